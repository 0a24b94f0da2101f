//! The domain: orders, money, status machine, receipts. No AWS, HTTP or storage types here.

pub mod mail;
pub mod money;
pub mod order;
pub mod receipt;
pub mod stock;
pub mod values;

pub use money::{Currency, Money};
pub use order::{
    FailureReason, InvoiceHold, InvoicePayment, NewOrder, Order, OrderLine, OrderStatus,
    PaymentMethod, PricedLine, Product, StatusEvent,
};
pub use stock::{Adjustment, LedgerPage, MovementKind, ProductChanges, StockMovement};
pub use values::{
    client_network, CardNumber, CustomerId, Email, IdempotencyKey, Invalid, OrderId, ProductId,
    Quantity, ShippingAddress,
};
