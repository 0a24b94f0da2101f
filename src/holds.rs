//! Units held by unpaid orders on invoice (security review H-2). An order on invoice takes
//! stock before anyone paid, so the shop caps what one customer id, one e-mail address and
//! one client address (an IPv4 address or an IPv6 /64) may hold at once; a hold also runs
//! out (the order becomes FAILED `PAYMENT_OVERDUE` and its stock goes back, see the worker).
//!
//! Each of the three is a coordination record (`OrderStore::get_record`/`cas_record`) named
//! by a keyed MAC of the value (no e-mail address or client address in the store's keys),
//! holding the orders counted against it: order id → (units, until). Intake adds the order
//! to all three with a compare-and-set, or refuses it when one would exceed its cap; the
//! worker removes it once the order is paid or failed. Both are idempotent (keyed by order
//! id). An entry also lapses on its own at `until` (after the hold's due time), so an order
//! whose removal never happened (a crash) stops counting by itself, and nothing is counted
//! for ever: at worst an order counts a little longer than it held stock, never shorter.

use crate::domain::{CustomerId, Email, OrderId};
use crate::ports::{DataKey, OrderStore, PortError, PortResult};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Compare-and-set attempts on one record before giving up as contended (503, retried).
const CAS_TRIES: usize = 20;

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
    units: u64,
    /// Unix seconds after which the entry no longer counts.
    until: i64,
}

/// A record's value: the orders counted, by id.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Held {
    orders: BTreeMap<String, Entry>,
}

impl Held {
    fn parse(name: &str, value: &str) -> Held {
        serde_json::from_str(value).unwrap_or_else(|e| {
            // Only this module writes these; a damaged one is started afresh (counting less
            // for a while is the lesser harm than refusing every order on invoice).
            tracing::error!(record = name, error = %e, "unreadable invoice hold record: starting it afresh");
            Held::default()
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
    /// The order counts against every key now (or did already).
    Held,
    /// Holding it would take this key past its cap; nothing is held for the order.
    OverCap(HoldKey),
}

/// Applies `change` to record `name` with compare-and-set, retrying on a concurrent write.
/// `change` returns `Ok(t)` after changing the value (then written; the answer is `t`) or
/// `Err(t)` to stop without writing.
async fn update<T>(
    store: &dyn OrderStore,
    name: &str,
    now: i64,
    mut change: impl FnMut(&mut Held) -> Result<T, T>,
) -> PortResult<T> {
    for _ in 0..CAS_TRIES {
        let (mut held, version) = match store.get_record(name).await? {
            Some((value, version)) => (Held::parse(name, &value).live(now), Some(version)),
            None => (Held::default(), None),
        };
        let answer = match change(&mut held) {
            Err(stop) => return Ok(stop),
            Ok(t) => t,
        };
        let value = serde_json::to_string(&held).map_err(|e| PortError::Unexpected(e.into()))?;
        if store.cas_record(name, version, &value).await? {
            return Ok(answer);
        }
    }
    Err(PortError::Unavailable(format!(
        "invoice hold record {name} is contended; try again"
    )))
}

/// Counts `units` of `order_id` against every key until `until`, or none if one would go
/// past its cap. Idempotent: an order already counted is not counted twice.
pub async fn take(
    store: &dyn OrderStore,
    keys: &[HoldKey],
    order_id: &OrderId,
    units: u64,
    until: DateTime<Utc>,
) -> PortResult<Taken> {
    let now = Utc::now().timestamp();
    let id = order_id.to_string();
    for (i, key) in keys.iter().enumerate() {
        let entry = Entry {
            units,
            until: until.timestamp(),
        };
        let fits = update(store, &key.name, now, |held| {
            if held.orders.contains_key(&id) {
                return Err(true);
            }
            if held.units().saturating_add(units) > key.cap {
                return Err(false);
            }
            held.orders.insert(id.clone(), entry);
            Ok(true)
        })
        .await;
        match fits {
            Ok(true) => {}
            Ok(false) => {
                release(store, &names(&keys[..i]), order_id).await?;
                return Ok(Taken::OverCap(key.clone()));
            }
            Err(e) => {
                // Best effort: what was taken lapses by itself otherwise.
                let _ = release(store, &names(&keys[..i]), order_id).await;
                return Err(e);
            }
        }
    }
    Ok(Taken::Held)
}

/// The record names of `keys`, as the order keeps them.
pub fn names(keys: &[HoldKey]) -> Vec<String> {
    keys.iter().map(|k| k.name.clone()).collect()
}

/// Stops counting `order_id` against the named records. Idempotent.
pub async fn release(
    store: &dyn OrderStore,
    names: &[String],
    order_id: &OrderId,
) -> PortResult<()> {
    let now = Utc::now().timestamp();
    let id = order_id.to_string();
    for name in names {
        update(store, name, now, |held| match held.orders.remove(&id) {
            Some(_) => Ok(()),
            None => Err(()),
        })
        .await?;
    }
    Ok(())
}

/// How many units the named record holds now (for tests and the console).
pub async fn held_units(store: &dyn OrderStore, name: &str) -> PortResult<u64> {
    let now = Utc::now().timestamp();
    Ok(match store.get_record(name).await? {
        Some((value, _)) => Held::parse(name, &value).live(now).units(),
        None => 0,
    })
}
