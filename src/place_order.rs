//! Placing an order: the intake half of an order's life (the worker, [`crate::worker`], is the
//! other). [`PlaceOrder::place`] prices the order from the catalog, applies the shop's policy
//! for orders on invoice, records the order together with its Idempotency-Key's record and
//! sends its queue message, or, for a retry, answers what the first request answered. It knows
//! nothing of HTTP: `http::orders::create_order` parses the request, calls it, and maps
//! [`PlaceError`] to a status in one place (`From<PlaceError> for ApiError`).
//!
//! With a key, the common case (a key never seen) is one atomic write of the order and the
//! key's completed record (`OrderStore::insert_order_keyed`), then the message. Anything else
//! goes through `idempotency_begin`, which says whether to replay, wait, refuse (another body
//! under the key), or take over what an earlier holder of the key left unfinished.

use crate::config::OrderSettings;
use crate::domain::order::OrderError;
use crate::domain::{
    CardNumber, CustomerId, Email, IdempotencyKey, Money, NewOrder, Order, OrderId, OrderStatus,
    PricedLine, Product, ProductId, Quantity, ShippingAddress,
};
use crate::ports::Services;
use crate::ports::{
    DataKey, IdempotencyBegin, IdempotencyRecord, Inventory, NewKey, OrderMessage, PortError,
    PortResult, StoredResponse,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// How long one request holds an Idempotency-Key before another may take over.
const IDEMPOTENCY_LEASE: Duration = Duration::from_secs(30);

/// An order as the client asked for it, its values already checked.
pub struct PlaceOrderInput {
    pub customer_id: CustomerId,
    pub customer_email: Email,
    pub items: Vec<ItemInput>,
    pub shipping_address: Option<ShippingAddress>,
    pub card: Option<CardNumber>,
}

pub struct ItemInput {
    pub product_id: ProductId,
    pub quantity: Quantity,
    /// The decimal unit price the client showed, checked against the catalog later.
    pub price: Option<String>,
}

/// One request to place an order.
pub struct PlaceRequest<'a> {
    pub input: PlaceOrderInput,
    /// The request body as parsed: what an Idempotency-Key's fingerprint is taken of.
    pub body: &'a Value,
    pub key: Option<IdempotencyKey>,
    pub request_id: Option<String>,
    /// The client's address, for the caps on orders on invoice.
    pub client: Option<IpAddr>,
}

/// The answer: the 201 prepared for the order (stored without its access token, see
/// [`order_token`]), and whether it is a replay of an earlier request's.
#[derive(Debug)]
pub struct Placed {
    pub response: StoredResponse,
    pub replayed: bool,
}

/// Why an order was not placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// The order as asked cannot be placed (an unknown product, a malformed price, mixed
    /// currencies, a card required, too many units on invoice); `field` names the culprit.
    #[error("{message}")]
    Refused {
        code: &'static str,
        field: String,
        message: String,
    },
    /// The shop's state stands in the way (a price changed, unpaid orders on invoice hold a
    /// cap).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        field: Option<String>,
        message: String,
    },
    /// Another request with the same Idempotency-Key holds it; retry shortly.
    #[error("{0}")]
    KeyInFlight(&'static str),
    /// The Idempotency-Key was used with another request.
    #[error("this Idempotency-Key was already used with a different request; use a new key for a new order")]
    KeyReused,
    #[error(transparent)]
    Backend(#[from] PortError),
    /// A bug: the details go to the log.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl PlaceError {
    fn refused(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        PlaceError::Refused {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// An order's access token: 256 bits, derived from the data key and the order id, so a stored
/// 201 (an idempotency replay) needs no copy of it; the order keeps only its SHA-256.
pub fn order_token(key: &DataKey, order_id: &OrderId) -> String {
    key.mac_hex("order-access-token", order_id.as_str().as_bytes())
}

/// The idempotency fingerprint of a request: keyed, so the stored value reveals nothing of
/// the body (the card number in it) to whoever reads the store.
pub fn idempotency_fingerprint(key: &DataKey, value: &Value) -> String {
    // serde_json's map is ordered by key, so this is a canonical form of the body.
    key.mac_hex(
        "idempotency-fingerprint",
        format!("POST /api/orders\n{value}").as_bytes(),
    )
}

/// The fingerprint records written before fingerprints were keyed carry (plain SHA-256):
/// still matched, so a retry of a request placed before an upgrade is replayed, not refused.
fn legacy_fingerprint(value: &Value) -> String {
    sha256_hex(format!("POST /api/orders\n{value}").as_bytes())
}

type Catalog = Arc<HashMap<ProductId, Product>>;

/// The catalog as of at most `ttl` ago. Requests that find it stale together wait for one
/// read instead of each reading it.
pub struct CatalogCache {
    ttl: Duration,
    cached: std::sync::Mutex<Option<(std::time::Instant, Catalog)>>,
    refresh: tokio::sync::Mutex<()>,
}

impl CatalogCache {
    pub fn new(ttl: Duration) -> CatalogCache {
        CatalogCache {
            ttl,
            cached: std::sync::Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Option<Catalog> {
        match &*self.cached.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((at, c)) if at.elapsed() < self.ttl => Some(c.clone()),
            _ => None,
        }
    }

    /// Forgets the cached catalog: the next order reads it afresh.
    pub fn forget(&self) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub async fn get(&self, store: &dyn Inventory) -> PortResult<Catalog> {
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let _one_reader = self.refresh.lock().await;
        if let Some(c) = self.current() {
            return Ok(c);
        }
        let fresh: Catalog = Arc::new(
            store
                .list_products()
                .await?
                .into_iter()
                .map(|p| (p.product_id.clone(), p))
                .collect(),
        );
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((std::time::Instant::now(), fresh.clone()));
        Ok(fresh)
    }
}

/// The 201 a new order is announced with, stored for replays (without the access token).
pub type CreatedResponse = fn(&Order) -> anyhow::Result<StoredResponse>;

/// The intake use case, shared by every request of a server.
pub struct PlaceOrder {
    services: Services,
    settings: OrderSettings,
    /// Products and prices for pricing orders (not stock: the worker reserves that).
    catalog: CatalogCache,
    created: CreatedResponse,
}

/// An order priced and built for a request, with the 201 response that announces it.
struct Prepared {
    order: Order,
    response: StoredResponse,
    /// On invoice: what the order's units count against (see [`PlaceOrder::hold_invoice`]).
    holds: Vec<crate::holds::HoldKey>,
}

impl PlaceOrder {
    /// `created` renders the 201 body of a new order (the HTTP layer's view of it).
    pub fn new(services: Services, settings: &OrderSettings, created: CreatedResponse) -> Self {
        PlaceOrder {
            catalog: CatalogCache::new(Duration::from_millis(settings.catalog_cache_ms)),
            services,
            settings: settings.clone(),
            created,
        }
    }

    /// A product was created or changed through this instance: its next order is priced
    /// from the store (other instances within `orders.catalog_cache_ms`).
    pub fn catalog_changed(&self) {
        self.catalog.forget();
    }

    /// Places the order of `req`, or answers what the first request with its key answered.
    pub async fn place(&self, req: PlaceRequest<'_>) -> Result<Placed, PlaceError> {
        let PlaceRequest {
            input,
            body,
            key,
            request_id: rid,
            client,
        } = req;
        let data_key = self.services.keys.data_key().await?;
        let prepared = self
            .prepare(input, rid.clone(), client, key.as_ref().map(|k| k.as_str()))
            .await;
        let fresh = |response| Placed {
            response,
            replayed: false,
        };
        let Some(key) = key else {
            let p = prepared?;
            self.record(&p, None, rid).await?;
            return Ok(fresh(p.response));
        };
        let mut fingerprint = idempotency_fingerprint(&data_key, body);
        // This request's hold on the key's record: only the holder may finish or release it.
        let holder = uuid::Uuid::new_v4().simple().to_string();
        let mut legacy = Some(legacy_fingerprint(body));
        let store = &self.services.store;
        let ttl = Duration::from_secs(self.settings.idempotency_ttl_secs);
        // The common case, a key never seen: one atomic write records the order and the key's
        // completed record; then the message goes out. (An order on invoice over a cap may be
        // a retry of one already counted: the lookup below decides.)
        let fast = match &prepared {
            // A hold store that does not answer must not stop a replay: the lookup decides,
            // and a new order then counts (or fails) on the way below.
            Ok(p) => self.hold_invoice(p).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "counting an order on invoice failed; trying the idempotency lookup");
                None
            }),
            Err(_) => None,
        };
        if let (Ok(p), Some(added)) = (&prepared, &fast) {
            let new_key = NewKey {
                key: key.as_str(),
                fingerprint: &fingerprint,
                holder: &holder,
                response: &p.response,
                ttl,
            };
            let inserted = store.insert_order_keyed(&p.order, &new_key).await;
            if let Err(PortError::AlreadyExists(_)) = &inserted {
                self.unhold_invoice(p, added).await;
            }
            match inserted {
                Ok(()) => {
                    return match self.enqueue(&p.order.order_id, rid).await {
                        Ok(()) => {
                            accepted(&p.order);
                            Ok(fresh(p.response.clone()))
                        }
                        Err(e) => {
                            // Reopen the key so a retry re-sends the message at once (the
                            // reconciler re-enqueues the order otherwise).
                            if let Err(release) =
                                store.idempotency_release(key.as_str(), &holder).await
                            {
                                tracing::warn!(error = %release, "could not reopen the idempotency record");
                            }
                            Err(e.into())
                        }
                    };
                }
                // The key has a record (a retry, a duplicate, a concurrent twin): read it below.
                Err(PortError::AlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.settings.idempotency_wait_ms);
        // A twin waits with growing pauses ([`next_pause`]): each look is a conditional write
        // on DynamoDB, so ~15 looks in 5 s instead of 250 (security review L-5).
        let mut pause = Duration::from_millis(20);
        let began = loop {
            let began = store
                .idempotency_begin(key.as_str(), &fingerprint, &holder, IDEMPOTENCY_LEASE, ttl)
                .await?;
            let began = match (began, legacy.take()) {
                // Perhaps a record from before keyed fingerprints: compare it the old way, and
                // keep to the way that matched.
                (IdempotencyBegin::Mismatch, Some(old)) => {
                    let again = store
                        .idempotency_begin(key.as_str(), &old, &holder, IDEMPOTENCY_LEASE, ttl)
                        .await?;
                    if !matches!(again, IdempotencyBegin::Mismatch) {
                        fingerprint = old;
                    }
                    again
                }
                (began, _) => began,
            };
            match began {
                IdempotencyBegin::InFlight if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(pause.min(deadline - tokio::time::Instant::now())).await;
                    pause = next_pause(pause);
                }
                IdempotencyBegin::InFlight => return Err(PlaceError::KeyInFlight(
                    "a request with this Idempotency-Key is still being processed; retry shortly",
                )),
                other => break other,
            }
        };
        let result = match began {
            IdempotencyBegin::Completed(resp) => {
                self.still_queued(&resp, rid).await?;
                return Ok(Placed {
                    response: resp,
                    replayed: true,
                });
            }
            IdempotencyBegin::Mismatch => return Err(PlaceError::KeyReused),
            IdempotencyBegin::InFlight => unreachable!("waited out above"),
            IdempotencyBegin::Started => match prepared {
                Ok(p) => self.record(&p, Some(&key), rid).await.map(|()| p.response),
                Err(e) => Err(e),
            },
            IdempotencyBegin::Resumed(r) => self.resume(prepared, &key, r, rid).await,
        };
        match result {
            Ok(resp) => {
                if let Err(e) = store
                    .idempotency_complete(key.as_str(), &holder, &resp)
                    .await
                {
                    // The record holds the response already; a retry resumes and completes it.
                    tracing::warn!(error = %e, "could not mark the idempotency record complete");
                }
                Ok(fresh(resp))
            }
            Err(e) => {
                if let Err(release) = store.idempotency_release(key.as_str(), &holder).await {
                    tracing::warn!(error = %release, "could not release the idempotency lease");
                }
                Err(e)
            }
        }
    }

    /// Finishes what an earlier holder of the key left: if the order was recorded, (re)send
    /// its message — a duplicate message is harmless — and answer with the original response;
    /// else record the order prepared for this request.
    async fn resume(
        &self,
        prepared: Result<Prepared, PlaceError>,
        key: &IdempotencyKey,
        held: IdempotencyRecord,
        rid: Option<String>,
    ) -> Result<StoredResponse, PlaceError> {
        match (held.order_id, held.response) {
            (Some(order_id), Some(resp)) => {
                tracing::info!(%order_id, "resuming an interrupted order placement");
                self.enqueue(&order_id, rid).await?;
                Ok(resp)
            }
            _ => {
                let p = prepared?;
                self.record(&p, Some(key), rid).await.map(|()| p.response)
            }
        }
    }

    /// Before a replay says 201: if the order is still PENDING, its message goes out again (a
    /// duplicate is harmless: every worker step is idempotent). The one-write fast path
    /// records the key as completed before the request that wrote it has enqueued, so a twin
    /// arriving in between would otherwise promise an order whose message may never be sent
    /// (security review L-3), leaving it to the reconciler minutes later.
    async fn still_queued(
        &self,
        resp: &StoredResponse,
        request_id: Option<String>,
    ) -> Result<(), PlaceError> {
        if resp.status != 201 {
            return Ok(());
        }
        let Some(order_id) = serde_json::from_str::<Value>(&resp.body)
            .ok()
            .and_then(|b| OrderId::parse(b["orderId"].as_str()?).ok())
        else {
            return Ok(());
        };
        match self.services.store.get_order(&order_id).await? {
            Some(order) if order.status == OrderStatus::Pending => {
                Ok(self.enqueue(&order_id, request_id).await?)
            }
            _ => Ok(()),
        }
    }

    async fn enqueue(&self, order_id: &OrderId, request_id: Option<String>) -> PortResult<()> {
        let body = OrderMessage::order(order_id, request_id).to_body();
        self.services.queue.send(&body).await.map_err(|e| {
            tracing::warn!(%order_id, error = %e, "order recorded but not enqueued");
            e
        })?;
        Ok(())
    }

    /// An order without a card is paid on invoice: it takes stock and sends e-mail before
    /// anyone paid, so the shop decides who may (security review H-2). Off by default.
    fn invoice_policy(&self, input: &PlaceOrderInput) -> Result<(), PlaceError> {
        if input.card.is_some() {
            return Ok(());
        }
        let settings = &self.settings;
        let refuse = |message: &str| {
            Err(PlaceError::refused(
                "PAYMENT_REQUIRED",
                "payment.cardNumber",
                message,
            ))
        };
        if !settings.invoice_enabled {
            return refuse("a card number is required: this shop does not take orders on invoice");
        }
        if !settings.invoice_customers.is_empty()
            && !settings
                .invoice_customers
                .iter()
                .any(|c| c == input.customer_id.as_str())
        {
            return refuse(
                "a card number is required: pay on invoice is for approved customers only",
            );
        }
        let units: u64 = input
            .items
            .iter()
            .map(|i| u64::from(i.quantity.get()))
            .sum();
        if units > u64::from(settings.invoice_max_units) {
            return Err(PlaceError::refused(
                "INVOICE_LIMIT",
                "items",
                format!(
                    "an order on invoice may hold at most {} units ({units} asked); pay by card for more",
                    settings.invoice_max_units
                ),
            ));
        }
        Ok(())
    }

    /// Prices the order from the catalog and builds it and its 201 response; writes nothing.
    async fn prepare(
        &self,
        input: PlaceOrderInput,
        request_id: Option<String>,
        client: Option<IpAddr>,
        idempotency_key: Option<&str>,
    ) -> Result<Prepared, PlaceError> {
        // Here, not before the idempotency lookup: a retry of an order accepted under an
        // earlier policy still gets its replay.
        self.invoice_policy(&input)?;
        let s = &self.services;
        let catalog = self.catalog.get(s.inventory.as_ref()).await?;
        let mut lines = Vec::with_capacity(input.items.len());
        for (i, item) in input.items.iter().enumerate() {
            let product = catalog.get(&item.product_id).ok_or_else(|| {
                PlaceError::refused(
                    "UNKNOWN_PRODUCT",
                    format!("items[{i}].productId"),
                    format!("there is no product `{}`", item.product_id),
                )
            })?;
            if !product.active {
                return Err(PlaceError::refused(
                    "PRODUCT_RETIRED",
                    format!("items[{i}].productId"),
                    format!("{} (`{}`) is no longer sold", product.name, item.product_id),
                ));
            }
            if let Some(shown) = &item.price {
                let field = format!("items[{i}].price");
                let shown =
                    Money::parse_decimal(shown, product.unit_price.currency).map_err(|e| {
                        PlaceError::refused("VALIDATION_ERROR", &field, format!("`{field}`: {e}"))
                    })?;
                if shown != product.unit_price {
                    return Err(PlaceError::Conflict {
                        code: "PRICE_CHANGED",
                        message: format!(
                            "the price of {} is now {}, not {}; review the cart and order again",
                            product.name, product.unit_price, shown
                        ),
                        field: Some(field),
                    });
                }
            }
            if product.unit_price.currency
                != catalog[&input.items[0].product_id].unit_price.currency
            {
                return Err(PlaceError::refused(
                    "MIXED_CURRENCY",
                    "items",
                    "all products on one order must have the same currency",
                ));
            }
            lines.push(PricedLine {
                product,
                quantity: item.quantity,
            });
        }
        let payment = match &input.card {
            Some(card) => Some(s.payments.tokenize(card).await?),
            None => None,
        };
        let order_id = OrderId::generate();
        let data_key = s.keys.data_key().await?;
        let access_token = order_token(&data_key, &order_id);
        let holds = input.card.is_none().then(|| {
            let o = &self.settings;
            crate::holds::hold_keys(
                &data_key,
                crate::holds::HoldCaps {
                    per_customer: o.invoice_units_per_customer.into(),
                    per_email: o.invoice_units_per_email.into(),
                    per_client: o.invoice_units_per_client.into(),
                },
                &input.customer_id,
                &input.customer_email,
                client,
            )
        });
        let mut order = Order::place(
            NewOrder {
                order_id,
                customer_id: input.customer_id,
                customer_email: input.customer_email,
                lines,
                shipping_address: input.shipping_address,
                payment,
                access_token_sha256: sha256_hex(access_token.as_bytes()),
                request_id,
            },
            chrono::Utc::now(),
        )
        .map_err(|e| match e {
            OrderError::Money(m) => PlaceError::refused(
                "VALIDATION_ERROR",
                "items",
                format!("the order total cannot be computed: {m}"),
            ),
            other => PlaceError::refused("VALIDATION_ERROR", "items", other.to_string()),
        })?;
        if let Some(h) = &holds {
            order.invoice_hold = Some(crate::domain::InvoiceHold {
                records: crate::holds::names(h),
                entry: crate::holds::entry_for(&data_key, idempotency_key, &order.order_id),
            });
        }
        // Stored (idempotency replays) without the token: the HTTP layer puts it back.
        let response = (self.created)(&order).map_err(PlaceError::Internal)?;
        Ok(Prepared {
            order,
            response,
            holds: holds.unwrap_or_default(),
        })
    }

    /// Before an order on invoice is recorded: counts its units against its customer, e-mail
    /// address and client address, or refuses it when one of them already holds its cap in
    /// unpaid orders (security review H-2). After the idempotency lookup, so a retry of an
    /// order already counted is replayed, not refused.
    ///
    /// `Ok(None)`: over a cap, nothing added ([`invoice_limit`] is the answer once the
    /// request is known to be new); `Ok(Some(added))`: counted, `added` the records this call
    /// added the order to (none when a retry of it was counted already).
    async fn hold_invoice(&self, p: &Prepared) -> PortResult<Option<Vec<String>>> {
        let Some(hold) = &p.order.invoice_hold else {
            return Ok(Some(Vec::new()));
        };
        // Counted a day past the hold, so processing delays never let the entry lapse first.
        let hold_for = Duration::from_secs(self.settings.invoice_hold_secs + 24 * 3600);
        let until = chrono::Utc::now() + chrono::Duration::from_std(hold_for).unwrap_or_default();
        let taken = crate::holds::take(
            self.services.records.as_ref(),
            &p.holds,
            &hold.entry,
            p.order.units(),
            until,
        )
        .await?;
        match taken {
            crate::holds::Taken::Held { added } => Ok(Some(added)),
            crate::holds::Taken::OverCap(key) => {
                tracing::info!(record = %key.name, cap = key.cap, units = p.order.units(), "unpaid orders on invoice already hold the cap");
                Ok(None)
            }
        }
    }

    /// Gives back what [`Self::hold_invoice`] added for an order that was not recorded after
    /// all (the store said so: after any other error the order may have been written, so it
    /// stays counted, and lapses by itself if it was not).
    async fn unhold_invoice(&self, p: &Prepared, added: &[String]) {
        let Some(hold) = &p.order.invoice_hold else {
            return;
        };
        if let Err(e) =
            crate::holds::release(self.services.records.as_ref(), added, &hold.entry).await
        {
            tracing::warn!(error = %e, "could not give back an invoice hold (it lapses by itself)");
        }
    }

    /// Records a prepared order (binding it to the key's record, held by the caller) and
    /// enqueues it.
    async fn record(
        &self,
        p: &Prepared,
        key: Option<&IdempotencyKey>,
        request_id: Option<String>,
    ) -> Result<(), PlaceError> {
        let (order, response) = (&p.order, &p.response);
        let Some(added) = self.hold_invoice(p).await? else {
            return Err(invoice_limit());
        };
        let inserted = self
            .services
            .store
            .insert_order(order, key.map(|k| (k.as_str(), response)))
            .await;
        if let Err(PortError::AlreadyExists(_)) = &inserted {
            self.unhold_invoice(p, &added).await;
        }
        match inserted {
            Ok(()) => {}
            Err(PortError::AlreadyExists(_)) if key.is_some() => {
                return Err(PlaceError::KeyInFlight(
                    "another request with this Idempotency-Key placed the order; retry to get its response",
                ))
            }
            Err(e) => return Err(e.into()),
        }
        self.enqueue(&order.order_id, request_id).await?;
        accepted(order);
        Ok(())
    }
}

/// The pause before a twin looks at an in-flight key again: doubling from 20 ms, at most
/// 500 ms.
fn next_pause(pause: Duration) -> Duration {
    (pause * 2).min(Duration::from_millis(500))
}

/// The answer to a new order on invoice over a cap.
fn invoice_limit() -> PlaceError {
    crate::metrics::invoice_refused();
    PlaceError::Conflict {
        code: "INVOICE_LIMIT",
        message: "unpaid orders on invoice already hold as many units as this shop allows for this customer, e-mail address or network; pay by card, or pay the open invoices first".into(),
        field: Some("items".into()),
    }
}

fn accepted(order: &Order) {
    crate::metrics::order_created(order.total);
    tracing::info!(order_id = %order.order_id, total = %order.total, lines = order.items.len(), "order accepted");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_twin_looks_at_an_in_flight_key_about_fifteen_times_in_five_seconds() {
        let (mut waited, mut pause, mut looks) = (Duration::ZERO, Duration::from_millis(20), 1);
        while waited < Duration::from_secs(5) {
            waited += pause;
            pause = next_pause(pause);
            looks += 1;
        }
        assert!((10..=20).contains(&looks), "{looks} looks");
        assert_eq!(pause, Duration::from_millis(500), "capped");
    }

    #[test]
    fn sha256_hex_matches_the_published_test_vectors() {
        // FIPS 180-2 / NIST CSRC examples: the empty message and "abc".
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
