//! Send-once markers for effects AWS cannot take back: a customer e-mail (SES keeps no record a
//! sender could ask), an order event or an alarm (SNS: a standard topic delivers every publish;
//! a FIFO topic drops a repeated deduplication id only within 5 minutes).
//!
//! One item per effect in the state table, `pk` = `mail#<key>`, `event#<id>` or `alarm#<id>`:
//! - `st = sending` with `lease_owner` and `lease_until` (ms): a sender holds the lease;
//! - `st = sent`, or no `st` (markers written before leases existed): the effect is done.
//!
//! [`Markers::claim`] is one conditional `PutItem` that takes the lease when the effect is
//! neither done nor leased to a live sender. It stands where a plain marker check read the item,
//! so an effect still costs three requests (claim, send, [`Markers::sent`]), and two workers can
//! no longer send the same e-mail at once: the second waits out the first's lease and then finds
//! the effect done. What no marker can close is a sender dying after the service accepted the
//! effect and before `sent` is written: its lease expires and the next attempt sends again
//! ([`Claim::Mine::retaken_from_ms`], counted in `orderflow_effects_retaken_total`).

use super::{now_ms, sdk_err};
use crate::ports::{PortError, PortResult};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use std::collections::HashMap;
use std::time::Duration;

/// How a send given to [`Markers::once`] failed.
#[derive(Debug)]
pub(crate) enum Failed {
    /// The service refused it: nothing was sent.
    NothingSent(PortError),
    /// It may have been sent (no answer).
    MaybeSent(PortError),
}

impl Failed {
    /// A port error from a send: only a transient one may have been sent.
    pub(crate) fn from_port(e: PortError) -> Failed {
        if e.is_transient() {
            Failed::MaybeSent(e)
        } else {
            Failed::NothingSent(e)
        }
    }
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The caller holds the lease and sends; then [`Markers::sent`], or [`Markers::release`]
    /// when the service refused the effect (nothing was sent).
    Mine {
        owner: String,
        /// An earlier sender took the lease at this time (ms since the epoch) and never
        /// finished: it may have sent, so this send may repeat it.
        retaken_from_ms: Option<i64>,
    },
    /// The effect was sent before: do nothing.
    Done,
}

#[derive(Clone)]
pub(crate) struct Markers {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    /// How long a claim holds: longer than one send can take (the SDK's operation timeout).
    lease: Duration,
}

const SENDING: &str = "sending";
const SENT: &str = "sent";

impl Markers {
    pub(crate) fn new(dynamo: aws_sdk_dynamodb::Client, table: String, lease: Duration) -> Self {
        Markers {
            dynamo,
            table,
            lease,
        }
    }

    /// Takes the lease on `pk`, or says it is done. A lease held by another sender is waited
    /// out, looking again every second (it is usually done at once); still held after about
    /// 30 s: `Unavailable`, retry later.
    pub(crate) async fn claim(&self, pk: &str) -> PortResult<Claim> {
        // About 30 s of looking: three default leases (2 × 5 s). A longer lease still held
        // after that is left to the message's retry.
        const ATTEMPTS: u32 = 30;
        for attempt in 1..=ATTEMPTS {
            let now = now_ms();
            let owner = uuid::Uuid::new_v4().simple().to_string();
            let until = now + self.lease.as_millis() as i64;
            let out = self
                .dynamo
                .put_item()
                .table_name(&self.table)
                .item("pk", AttributeValue::S(pk.to_owned()))
                .item("st", AttributeValue::S(SENDING.into()))
                .item("lease_owner", AttributeValue::S(owner.clone()))
                .item("lease_until", AttributeValue::N(until.to_string()))
                .item("at", AttributeValue::N(now.to_string()))
                .condition_expression(
                    "attribute_not_exists(pk) OR (st = :sending AND lease_until < :now)",
                )
                .expression_attribute_values(":sending", AttributeValue::S(SENDING.into()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .return_values(ReturnValue::AllOld)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let held = match out {
                Ok(out) => {
                    return Ok(Claim::Mine {
                        owner,
                        retaken_from_ms: out.attributes.as_ref().and_then(|old| number(old, "at")),
                    })
                }
                Err(e) => match e.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(c)) => {
                        match c.item() {
                            Some(item) if string(item, "st") == Some(SENDING) => {
                                number(item, "lease_until").unwrap_or(now)
                            }
                            // Sent, or a marker from before leases: done. (No item at all would
                            // mean the emulator ignored ReturnValuesOnConditionCheckFailure.)
                            Some(_) => return Ok(Claim::Done),
                            None => {
                                return Err(PortError::Unexpected(anyhow::anyhow!(
                                    "dynamodb PutItem (claim {pk}): the conditional check failed without the item"
                                )))
                            }
                        }
                    }
                    _ => return Err(sdk_err("dynamodb PutItem (claim)", e)),
                },
            };
            if attempt == ATTEMPTS {
                break;
            }
            // Another sender is at it (or died holding it): look again when it should have
            // finished (at most every second), or when its lease ends.
            let left = (held - now_ms()).clamp(0, self.lease.as_millis() as i64) as u64;
            let wait = left.min(1000) + 50;
            tracing::debug!(%pk, wait_ms = wait, "another sender holds the lease; waiting");
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        Err(PortError::Unavailable(format!(
            "{pk}: another sender keeps the lease"
        )))
    }

    /// Does the effect `pk` names at most once: claims it ([`Markers::claim`]; done before:
    /// nothing to do), runs `send` (given the time an earlier sender that never finished
    /// took the lease, if one did), then records it sent. A send that failed with
    /// [`Failed::NothingSent`] gives the lease back so the next attempt need not wait it
    /// out; after [`Failed::MaybeSent`] (a timeout, a lost connection) the lease stays, and
    /// the next attempt after it runs out is counted as a retake.
    pub(crate) async fn once<F, Fut>(&self, pk: &str, send: F) -> PortResult<()>
    where
        F: FnOnce(Option<i64>) -> Fut,
        Fut: std::future::Future<Output = Result<(), Failed>>,
    {
        let Claim::Mine {
            owner,
            retaken_from_ms,
        } = self.claim(pk).await?
        else {
            return Ok(());
        };
        match send(retaken_from_ms).await {
            Ok(()) => self.sent(pk).await,
            Err(Failed::NothingSent(e)) => {
                self.release(pk, &owner).await;
                Err(e)
            }
            Err(Failed::MaybeSent(e)) => Err(e),
        }
    }

    /// Records that the effect was sent.
    pub(crate) async fn sent(&self, pk: &str) -> PortResult<()> {
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(pk.to_owned()))
            .item("st", AttributeValue::S(SENT.into()))
            .item("at", AttributeValue::N(now_ms().to_string()))
            .send()
            .await
            .map_err(|e| sdk_err("dynamodb PutItem (sent marker)", e))?;
        Ok(())
    }

    /// Gives the lease back when the service refused the effect (nothing was sent), so a later
    /// attempt need not wait it out. Best effort: an expired lease is retaken anyway.
    pub(crate) async fn release(&self, pk: &str, owner: &str) {
        let out = self
            .dynamo
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .condition_expression("st = :sending AND lease_owner = :owner")
            .expression_attribute_values(":sending", AttributeValue::S(SENDING.into()))
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .send()
            .await;
        if let Err(e) = out {
            tracing::debug!(%pk, error = %sdk_err("dynamodb DeleteItem (lease)", e), "lease not released; it expires");
        }
    }
}

fn string<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}
