//! Orders on invoice after they were placed: the payment an operator records for one that
//! is AWAITING_PAYMENT. HTTP-free, like [`crate::place_order`]: the API handler and the
//! console form both call [`record_payment`], and [`PaymentError`] becomes an HTTP status in
//! one place (`http/errors.rs`).
//!
//! A payment is taken once per order: a create-only coordination record (`payment#<id>`), so
//! of two operators (or a double submit) recording different payments exactly one is taken.
//! It reaches the worker in a queue message, the durable record until the order is
//! COMPLETED, so a crash between the operator's click and the receipt loses nothing.

use crate::domain::{InvoicePayment, Order, OrderId, OrderStatus};
use crate::ports::{Json, OrderMessage, PortError, PortResult, Services};

/// Why a payment was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// Another payment was recorded for the order before this one.
    #[error("a payment with reference `{reference}` was recorded for order {order_id} already; refund this one")]
    AlreadyRecorded {
        order_id: OrderId,
        reference: String,
    },
    /// The order does not wait for a payment (paid, failed, or not on invoice).
    #[error("order {order_id} is {status}: only an order on invoice that is AWAITING_PAYMENT takes a payment")]
    NotAwaiting {
        order_id: OrderId,
        status: OrderStatus,
    },
    #[error(transparent)]
    Backend(#[from] PortError),
}

/// What [`record_payment`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The payment is taken and on its way to the worker (again, for a repeat of it).
    Queued,
    /// The order is paid with this reference already: nothing to do.
    AlreadyPaid,
}

fn record_name(order_id: &OrderId) -> String {
    format!("payment#{order_id}")
}

/// The payment recorded for the order, if one was (whether or not the worker applied it).
pub async fn recorded_payment(
    services: &Services,
    order: &Order,
) -> PortResult<Option<InvoicePayment>> {
    if let Some(p) = &order.invoice_payment {
        return Ok(Some(p.clone()));
    }
    let Some(record) = services
        .records
        .read::<Json<InvoicePayment>>(&record_name(&order.order_id))
        .await?
    else {
        return Ok(None);
    };
    match record.value {
        Some(Json(payment)) => Ok(Some(payment)),
        None => Err(PortError::corrupt(format!(
            "the payment record of {}",
            order.order_id
        ))),
    }
}

/// Records a payment received for `order`, on invoice and AWAITING_PAYMENT: the worker then
/// completes the order with it (receipt, event, e-mail). Idempotent: the same reference again
/// sends the same payment again (harmless); another reference is
/// [`PaymentError::AlreadyRecorded`].
pub async fn record_payment(
    services: &Services,
    order: &Order,
    reference: String,
    recorded_by: String,
    request_id: Option<String>,
) -> Result<Recorded, PaymentError> {
    let taken = |p: &InvoicePayment| PaymentError::AlreadyRecorded {
        order_id: order.order_id.clone(),
        reference: p.reference.clone(),
    };
    if let Some(paid) = &order.invoice_payment {
        return if paid.reference == reference {
            Ok(Recorded::AlreadyPaid)
        } else {
            Err(taken(paid))
        };
    }
    if order.status != OrderStatus::AwaitingPayment {
        return Err(PaymentError::NotAwaiting {
            order_id: order.order_id.clone(),
            status: order.status,
        });
    }
    let proposed = InvoicePayment {
        reference,
        recorded_by,
        recorded_at: chrono::Utc::now(),
    };
    let name = record_name(&order.order_id);
    let payment = if services
        .records
        .write(&name, None, &Json(proposed.clone()))
        .await?
    {
        proposed
    } else {
        match recorded_payment(services, order).await? {
            Some(p) if p.reference == proposed.reference => p,
            Some(p) => return Err(taken(&p)),
            None => {
                return Err(PortError::Unavailable(
                    "the payment record could not be read back; retry".into(),
                )
                .into())
            }
        }
    };
    let message = OrderMessage {
        payment: Some(payment),
        ..OrderMessage::order(&order.order_id, request_id)
    };
    services.queue.send(&message.to_body()).await?;
    tracing::info!(order_id = %order.order_id, "invoice payment recorded; the worker completes the order");
    Ok(Recorded::Queued)
}
