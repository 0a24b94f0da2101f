//! The inventory port: the catalog's products and their stock, reserved per order.

use super::PortResult;
use crate::domain::{
    Adjustment, LedgerPage, OrderId, Product, ProductChanges, ProductId, StockMovement,
};
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

/// What [`Inventory::adjust_stock`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adjusted {
    /// The stock changed by the adjustment: this is its ledger entry.
    Applied(StockMovement),
    /// An adjustment with this key was applied before: nothing changed; its entry.
    AlreadyApplied(StockMovement),
    /// The stock (this much now) would go below zero: nothing changed.
    Insufficient { stock: u32 },
    /// The stock (this much now) would pass [`crate::domain::stock::MAX_LEVEL`]: nothing
    /// changed.
    TooMuch { stock: u32 },
    /// No such product.
    NotFound,
}

/// # Contract
/// - Every change of a product's stock is one entry of its ledger, written in the same
///   atomic step as the change, numbered 1, 2, 3, … without gaps; its `level_after` is the
///   stock just after it. A product's stock always equals its ledger's opening level plus
///   the sum of its entries' deltas, however many writers race.
/// - `reserve_stock` and `release_stock` write a `RESERVED` / `RELEASED` entry per line,
///   by `order`, naming the order.
/// - `adjust_stock` applies an operator's change at most once per (product, key); a stock
///   that would go below zero (`Insufficient`) or past `MAX_LEVEL` (`TooMuch`) is refused
///   whole. Concurrent adjustments and reservations
///   never lose an update. Under contention any stock change may answer `Unavailable`
///   having changed nothing; trying it again is safe (reservations are per order id,
///   adjustments per key).
/// - `create_product` inserts a product (its stock is the opening level; retired if not
///   `active`); `false` if the id is taken. `update_product` applies the changes and returns
///   the product as it is now, `None` if there is no such product; it never touches stock.
/// - `stock_ledger` returns entries newest first, at most `limit`, older than `before`
///   when given; `None` if there is no such product.
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
    async fn get_product(&self, product_id: &ProductId) -> PortResult<Option<Product>>;
    async fn create_product(&self, product: &Product) -> PortResult<bool>;
    async fn update_product(
        &self,
        product_id: &ProductId,
        changes: &ProductChanges,
    ) -> PortResult<Option<Product>>;
    async fn adjust_stock(
        &self,
        product_id: &ProductId,
        adjustment: &Adjustment,
    ) -> PortResult<Adjusted>;
    async fn stock_ledger(
        &self,
        product_id: &ProductId,
        before: Option<u64>,
        limit: usize,
    ) -> PortResult<Option<LedgerPage>>;
}
