//! The inventory port: the catalog's products and their stock, reserved per order.

use super::PortResult;
use crate::domain::{OrderId, Product, ProductId};
use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// Stock for every line was taken just now.
    Reserved,
    /// This order already holds its reservation (a retry): nothing changed.
    AlreadyReserved,
    /// This order's reservation was taken and later released: nothing changed.
    Released,
    /// Not enough stock for this product; no stock changed for any line.
    Insufficient { product_id: ProductId },
}

/// # Contract
/// - `reserve_stock` takes stock for all lines in one atomic step, at most once per order id:
///   all or nothing (`Insufficient`), and a second call reports `AlreadyReserved`/`Released`
///   without touching stock. `release_stock` gives a held reservation back once; it returns
///   whether it released anything.
/// - `seed_products` inserts products whose id is not there yet and leaves existing ones
///   (and their stock) alone; returns how many it inserted.
/// - `list_products` returns every product with its current stock.
#[async_trait]
pub trait Inventory: Send + Sync + 'static {
    async fn seed_products(&self, products: &[Product]) -> PortResult<usize>;
    async fn list_products(&self) -> PortResult<Vec<Product>>;
    async fn reserve_stock(
        &self,
        order_id: &OrderId,
        lines: &[(ProductId, u32)],
    ) -> PortResult<Reservation>;
    async fn release_stock(&self, order_id: &OrderId) -> PortResult<bool>;
}
