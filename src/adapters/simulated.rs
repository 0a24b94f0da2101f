//! The simulated payment gateway's rules, shared by both families (each keeps its own
//! durable charge ledger: SQLite or DynamoDB).
//!
//! Test cards behave like a real gateway's test mode: `4000000000000002` is declined,
//! every other card that passes the checksum is approved, and no card (pay on invoice)
//! is approved.

use crate::domain::{CardNumber, PaymentMethod};
use crate::ports::ChargeOutcome;

/// The test card the simulated gateway always declines.
pub const DECLINED_CARD: &str = "4000000000000002";
const DECLINED_TOKEN: &str = "tok_sim_declined";

/// Stands a token in for the card; the token never contains the number.
pub fn tokenize(card: &CardNumber) -> PaymentMethod {
    let token = if card.digits() == DECLINED_CARD {
        DECLINED_TOKEN.to_owned()
    } else {
        format!("tok_sim_{}", uuid::Uuid::new_v4().simple())
    };
    PaymentMethod {
        token,
        brand: card.brand().to_owned(),
        last4: card.last4().to_owned(),
    }
}

/// The outcome of a first charge with this token.
pub fn decide(token: Option<&str>) -> ChargeOutcome {
    if token == Some(DECLINED_TOKEN) {
        ChargeOutcome::Declined {
            code: "card_declined".into(),
        }
    } else {
        ChargeOutcome::Approved {
            charge_id: format!("ch_sim_{}", uuid::Uuid::new_v4().simple()),
        }
    }
}
