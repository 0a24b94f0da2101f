//! The simulated payment gateway ([`crate::adapters::simulated`]) with a durable charge
//! ledger in SQLite. Each idempotency key is charged at most once; its first outcome is replayed.

use super::sqlite::{now_ms, Db};
use crate::domain::{CardNumber, PaymentMethod};
use crate::ports::{ChargeOutcome, ChargeRequest, PaymentGateway, PortResult};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use std::path::Path;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS charges (
    idempotency_key TEXT PRIMARY KEY,
    outcome         TEXT NOT NULL CHECK (outcome IN ('approved', 'declined')),
    charge_id       TEXT,
    decline_code    TEXT,
    amount          INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    at              INTEGER NOT NULL
);
";

pub struct SimulatedGateway {
    db: Db,
}

impl SimulatedGateway {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Ok(SimulatedGateway {
            db: Db::open(path, "payments", SCHEMA)?,
        })
    }
}

#[async_trait]
impl PaymentGateway for SimulatedGateway {
    async fn tokenize(&self, card: &CardNumber) -> PortResult<PaymentMethod> {
        Ok(crate::adapters::simulated::tokenize(card))
    }

    async fn charge(&self, req: &ChargeRequest) -> PortResult<ChargeOutcome> {
        let req = req.clone();
        self.db
            .call(move |c| {
                let tx = c.savepoint()?;
                let prior = tx
                    .query_row(
                        "SELECT outcome, charge_id, decline_code FROM charges WHERE idempotency_key = ?1",
                        params![req.idempotency_key],
                        |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, Option<String>>(2)?)),
                    )
                    .optional()?;
                let outcome = match prior {
                    Some((o, id, _)) if o == "approved" => ChargeOutcome::Approved { charge_id: id.unwrap_or_default() },
                    Some((_, _, code)) => ChargeOutcome::Declined { code: code.unwrap_or_default() },
                    None => {
                        let outcome = crate::adapters::simulated::decide(req.payment_token.as_deref());
                        let (kind, id, code) = match &outcome {
                            ChargeOutcome::Approved { charge_id } => ("approved", Some(charge_id.clone()), None),
                            ChargeOutcome::Declined { code } => ("declined", None, Some(code.clone())),
                        };
                        tx.execute(
                            "INSERT INTO charges (idempotency_key, outcome, charge_id, decline_code, amount, currency, at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            params![req.idempotency_key, kind, id, code, req.amount.amount, req.amount.currency.as_str(), now_ms()],
                        )?;
                        outcome
                    }
                };
                tx.commit()?;
                Ok(outcome)
            })
            .await
    }

    async fn charges_for(&self, idempotency_key: &str) -> PortResult<u32> {
        let key = idempotency_key.to_owned();
        self.db
            .call(move |c| {
                let n: i64 = c.query_row(
                    "SELECT COUNT(*) FROM charges WHERE idempotency_key = ?1 AND outcome = 'approved'",
                    params![key],
                    |r| r.get(0),
                )?;
                Ok(n as u32)
            })
            .await
    }
}
