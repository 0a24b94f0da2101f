//! The mailer port: customer e-mail.

use super::PortResult;
use crate::domain::mail::MailMessage;
use async_trait::async_trait;

/// # Contract
/// - `send` delivers the message to `to`. A message whose `key` was already sent MUST NOT be
///   sent again where the backend can tell (the embedded family: the `.eml` file exists;
///   aws: a marker in the state table, written after SES accepted the message).
/// - `Unavailable`: not sent; retry later.
/// - `Rejected`: not sent, and sending it again will not help (aws: SES refused the message,
///   the sender identity is not verified, or the account's sending is paused). The message
///   is not marked sent. Callers log and count it and carry on: a mail failure never fails
///   an order.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, message: &MailMessage) -> PortResult<()>;
    /// False when customer e-mail is switched off: callers skip building messages.
    fn enabled(&self) -> bool {
        true
    }
}
