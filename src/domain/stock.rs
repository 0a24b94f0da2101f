//! The stock ledger: every change to a product's stock, with who, when, why and the level
//! after. A product's stock always equals its opening level plus the sum of its ledger.

use super::money::Money;
use super::values::{OrderId, ProductId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Why a product's stock changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MovementKind {
    /// An order took stock (the worker's reservation).
    Reserved,
    /// An order's reservation was given back (failed, cancelled, an unpaid hold ran out).
    Released,
    /// An operator booked goods received.
    Received,
    /// An operator corrected the count (a stocktake, breakage, a mistake).
    Corrected,
}

impl MovementKind {
    pub const ALL: [MovementKind; 4] = [
        MovementKind::Reserved,
        MovementKind::Released,
        MovementKind::Received,
        MovementKind::Corrected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Reserved => "RESERVED",
            MovementKind::Released => "RELEASED",
            MovementKind::Received => "RECEIVED",
            MovementKind::Corrected => "CORRECTED",
        }
    }

    pub fn parse(s: &str) -> Option<MovementKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether an operator books this kind by hand (the others are an order's).
    pub fn is_manual(self) -> bool {
        matches!(self, MovementKind::Received | MovementKind::Corrected)
    }
}

/// One entry of a product's stock ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockMovement {
    /// 1, 2, 3, … per product, without gaps: the ledger's order.
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub kind: MovementKind,
    /// Units added (positive) or taken (negative).
    pub delta: i64,
    /// The stock just after this movement.
    pub level_after: u32,
    /// Who: the operator, or `order` for a reservation and its release.
    pub by: String,
    /// Why, in the words of whoever did it.
    pub reason: String,
    /// The order, for a reservation or its release.
    pub order_id: Option<OrderId>,
}

/// A manual stock change an operator asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    /// Makes the adjustment idempotent per product: a second request with the same key
    /// changes nothing and reports the first one's movement.
    pub key: String,
    pub kind: MovementKind,
    pub delta: i64,
    pub by: String,
    pub reason: String,
}

/// What an operator may change about a product; `None` leaves the field as it is. Stock is
/// not here: it changes only through the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub unit_price: Option<Money>,
    /// `false` retires the product: not sold, not shown in the storefront, kept for history.
    pub active: Option<bool>,
}

impl ProductChanges {
    pub fn is_empty(&self) -> bool {
        self == &ProductChanges::default()
    }

    /// `product` with these changes applied.
    pub fn apply(&self, product: &mut super::Product) {
        if let Some(v) = &self.name {
            product.name.clone_from(v);
        }
        if let Some(v) = &self.description {
            product.description.clone_from(v);
        }
        if let Some(v) = self.unit_price {
            product.unit_price = v;
        }
        if let Some(v) = self.active {
            product.active = v;
        }
    }
}

/// A page of a product's ledger, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerPage {
    pub product_id: ProductId,
    /// The stock the product was created with (or had when the ledger began).
    pub opening: u32,
    /// The stock now: `opening` plus every movement's delta.
    pub stock: u32,
    pub movements: Vec<StockMovement>,
    /// Pass as `before` for the next (older) page; `None` on the last.
    pub next_before: Option<u64>,
}

/// The most stock an operator may book a product up to. An order giving back what it took
/// may pass it (by at most what the order took), which keeps levels far below `u32::MAX`
/// in any real shop.
pub const MAX_LEVEL: u32 = 1_000_000_000;

/// The stock after adding `delta` to `stock`, or `None` if it would go below zero (or past
/// what the stores hold).
pub fn level_after(stock: u32, delta: i64) -> Option<u32> {
    u32::try_from(i64::from(stock).checked_add(delta)?).ok()
}

/// Why an operator's adjustment cannot be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelRefused {
    /// The stock would go below zero.
    BelowZero,
    /// The stock would pass [`MAX_LEVEL`].
    AboveMax,
}

/// The stock after an operator's adjustment of `delta`, or why it is refused.
pub fn adjusted_level(stock: u32, delta: i64) -> Result<u32, LevelRefused> {
    match level_after(stock, delta) {
        Some(after) if after <= MAX_LEVEL || delta <= 0 => Ok(after),
        Some(_) => Err(LevelRefused::AboveMax),
        None if delta < 0 => Err(LevelRefused::BelowZero),
        None => Err(LevelRefused::AboveMax),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in MovementKind::ALL {
            assert_eq!(MovementKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(MovementKind::parse("reserved"), None);
        assert!(MovementKind::Received.is_manual() && MovementKind::Corrected.is_manual());
        assert!(!MovementKind::Reserved.is_manual() && !MovementKind::Released.is_manual());
    }

    #[test]
    fn a_level_never_goes_below_zero() {
        assert_eq!(level_after(5, -5), Some(0));
        assert_eq!(level_after(5, -6), None);
        assert_eq!(level_after(5, 3), Some(8));
        assert_eq!(level_after(u32::MAX, 1), None);
    }

    #[test]
    fn an_adjustment_stays_between_zero_and_the_most_a_level_may_be() {
        assert_eq!(adjusted_level(5, -5), Ok(0));
        assert_eq!(adjusted_level(5, -6), Err(LevelRefused::BelowZero));
        assert_eq!(adjusted_level(MAX_LEVEL - 5, 5), Ok(MAX_LEVEL));
        assert_eq!(
            adjusted_level(MAX_LEVEL - 5, 6),
            Err(LevelRefused::AboveMax)
        );
        assert_eq!(adjusted_level(u32::MAX, 1), Err(LevelRefused::AboveMax));
        // Above the most (orders gave stock back), taking some away is still booked.
        assert_eq!(adjusted_level(MAX_LEVEL + 10, -4), Ok(MAX_LEVEL + 6));
    }

    #[test]
    fn changes_apply_only_what_they_name() {
        let mut p = crate::domain::order::tests::product("sku-a", 500, 3);
        let before = p.clone();
        ProductChanges::default().apply(&mut p);
        assert_eq!(p, before);
        ProductChanges {
            active: Some(false),
            ..Default::default()
        }
        .apply(&mut p);
        assert!(!p.active);
        assert_eq!((p.name.as_str(), p.stock), (before.name.as_str(), 3));
    }
}
