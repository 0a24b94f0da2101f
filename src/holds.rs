//! Units held by unpaid orders on invoice (security review H-2). An order on invoice takes
//! stock before anyone paid, so the shop caps what one customer id, one e-mail address and
//! one client address (an IPv4 address or an IPv6 /64) may hold at once; a hold also runs
//! out (the order becomes FAILED `PAYMENT_OVERDUE` and its stock goes back, see the worker).
//!
//! Each of the three is a coordination record (`Coordination::get_record`/`cas_record`) named
//! by a keyed MAC of the value (no e-mail address or client address in the store's keys),
//! holding the orders counted against it: entry → (units, until). The entry is the order's
//! Idempotency-Key (as a keyed MAC) when the request has one, else the order id, so a retry
//! of a request that died between counting and recording finds itself counted already
//! instead of being refused by its own first attempt. Intake adds the entry to all three
//! with a compare-and-set, or refuses the order when one would exceed its cap; the worker
//! removes it once the order is paid or failed. Both are idempotent. An entry also lapses on
//! its own at `until` (a day after the hold's due time), so one whose removal never happened
//! (a crash) stops counting by itself; nothing is counted for ever.
//!
//! A record holds at most `cap` entries (each at least one unit), and caps are at most
//! [`MAX_CAP`], so a record stays far below DynamoDB's 400 KB item limit.

use crate::domain::{CustomerId, Email, OrderId};
use crate::ports::{Coordination, DataKey, Json, PortError, PortResult, Versioned};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Compare-and-set attempts on one record before giving up as contended (503, retried).
const CAS_TRIES: usize = 20;

/// The largest cap a shop may set: at about 70 bytes an entry, a full record is ~140 KB.
pub const MAX_CAP: u32 = 2000;

/// One record an order on invoice counts against, and the most units it may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldKey {
    pub name: String,
    pub cap: u64,
}

/// The caps, from `orders.invoice_units_per_*`.
#[derive(Debug, Clone, Copy)]
pub struct HoldCaps {
    pub per_customer: u64,
    pub per_email: u64,
    pub per_client: u64,
}

/// The records an order by this customer, e-mail address and client counts against.
pub fn hold_keys(
    key: &DataKey,
    caps: HoldCaps,
    customer: &CustomerId,
    email: &Email,
    client: Option<IpAddr>,
) -> Vec<HoldKey> {
    let name = |kind: &str, value: &str| {
        let mac = key.mac_hex("invoice-hold", format!("{kind}\n{value}").as_bytes());
        format!("hold#{kind}#{}", &mac[..32])
    };
    let mut keys = vec![
        HoldKey {
            name: name("customer", customer.as_str()),
            cap: caps.per_customer,
        },
        HoldKey {
            name: name("email", &email.as_str().to_ascii_lowercase()),
            cap: caps.per_email,
        },
    ];
    if let Some(ip) = client {
        keys.push(HoldKey {
            name: name("client", &crate::domain::client_network(ip).to_string()),
            cap: caps.per_client,
        });
    }
    keys
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    #[serde(rename = "u")]
    units: u64,
    /// Unix seconds after which the entry no longer counts.
    #[serde(rename = "t")]
    until: i64,
}

/// A record's value: the entries counted.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Held {
    #[serde(rename = "o")]
    orders: BTreeMap<String, Entry>,
}

impl Held {
    /// The record `name` as read: its entries (none if never written) and its version.
    async fn read(store: &dyn Coordination, name: &str) -> PortResult<(Held, Option<u64>)> {
        Ok(match store.read::<Json<Held>>(name).await? {
            None => (Held::default(), None),
            Some(Versioned { value, version }) => {
                let held = value.map(|j| j.0).unwrap_or_else(|| {
                    // Only this module writes these; a damaged one is started afresh
                    // (counting less for a while is the lesser harm than refusing every order
                    // on invoice).
                    tracing::error!(
                        record = name,
                        "unreadable invoice hold record: starting it afresh"
                    );
                    Held::default()
                });
                (held, Some(version))
            }
        })
    }

    fn live(mut self, now: i64) -> Held {
        self.orders.retain(|_, e| e.until > now);
        self
    }

    fn units(&self) -> u64 {
        self.orders.values().map(|e| e.units).sum()
    }
}

/// What [`take`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// The entry counts against every key now; `added` names the records it was added to
    /// just now (the others had it already: a retry of a request counted before).
    Held { added: Vec<String> },
    /// Holding it would take this key past its cap; nothing was added.
    OverCap(HoldKey),
}

/// The entry an order's units are counted under: its Idempotency-Key (a keyed MAC of it,
/// so no client string lands in the store) when the request has one, else the order id.
pub fn entry_for(key: &DataKey, idempotency_key: Option<&str>, order_id: &OrderId) -> String {
    match idempotency_key {
        Some(k) => format!(
            "k:{}",
            &key.mac_hex("invoice-hold-entry", k.as_bytes())[..32]
        ),
        None => order_id.to_string(),
    }
}

/// Applies `change` to record `name` with compare-and-set, retrying on a concurrent write.
/// `change` returns `Ok(t)` after changing the value (then written; the answer is `t`) or
/// `Err(t)` to stop without writing.
async fn update<T>(
    store: &dyn Coordination,
    name: &str,
    now: i64,
    mut change: impl FnMut(&mut Held) -> Result<T, T>,
) -> PortResult<T> {
    for _ in 0..CAS_TRIES {
        let (held, version) = Held::read(store, name).await?;
        let mut held = held.live(now);
        let answer = match change(&mut held) {
            Err(stop) => return Ok(stop),
            Ok(t) => t,
        };
        let held = Json(held);
        if store.write(name, version, &held).await? {
            return Ok(answer);
        }
    }
    Err(PortError::Unavailable(format!(
        "invoice hold record {name} is contended; try again"
    )))
}

/// Counts `units` under `entry` against every key until `until`, or adds nothing if one
/// would go past its cap. Idempotent: an entry already counted is not counted twice.
pub async fn take(
    store: &dyn Coordination,
    keys: &[HoldKey],
    entry: &str,
    units: u64,
    until: DateTime<Utc>,
) -> PortResult<Taken> {
    let now = Utc::now().timestamp();
    let mut added = Vec::new();
    for key in keys {
        let counted = Entry {
            units,
            until: until.timestamp(),
        };
        let fits = update(store, &key.name, now, |held| {
            if held.orders.contains_key(entry) {
                return Err(Some(false));
            }
            if held.units().saturating_add(units) > key.cap {
                return Err(None);
            }
            held.orders.insert(entry.to_owned(), counted);
            Ok(Some(true))
        })
        .await;
        match fits {
            Ok(Some(true)) => added.push(key.name.clone()),
            Ok(Some(false)) => {}
            Ok(None) => {
                release(store, &added, entry).await?;
                return Ok(Taken::OverCap(key.clone()));
            }
            Err(e) => {
                // Best effort: what was added lapses by itself otherwise.
                let _ = release(store, &added, entry).await;
                return Err(e);
            }
        }
    }
    Ok(Taken::Held { added })
}

/// The record names of `keys`, as the order keeps them.
pub fn names(keys: &[HoldKey]) -> Vec<String> {
    keys.iter().map(|k| k.name.clone()).collect()
}

/// Stops counting `entry` against the named records. Idempotent.
pub async fn release(store: &dyn Coordination, names: &[String], entry: &str) -> PortResult<()> {
    let now = Utc::now().timestamp();
    for name in names {
        update(store, name, now, |held| match held.orders.remove(entry) {
            Some(_) => Ok(()),
            None => Err(()),
        })
        .await?;
    }
    Ok(())
}

/// How many units the named record holds now (for tests and the console).
pub async fn held_units(store: &dyn Coordination, name: &str) -> PortResult<u64> {
    let now = Utc::now().timestamp();
    Ok(Held::read(store, name).await?.0.live(now).units())
}
