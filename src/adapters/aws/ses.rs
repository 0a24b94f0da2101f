//! SES mailer (aws-sdk-sesv2): sends the MIME message raw, once per message key (a marker
//! in the state table, written after SES accepted the message).

use super::{now_ms, sdk_err};
use crate::domain::mail::MailMessage;
use crate::ports::{Mailer, PortError, PortResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};

pub struct SesMailer {
    ses: aws_sdk_sesv2::Client,
    dynamo: aws_sdk_dynamodb::Client,
    state: String,
}

impl SesMailer {
    pub fn new(
        ses: aws_sdk_sesv2::Client,
        dynamo: aws_sdk_dynamodb::Client,
        state: String,
    ) -> Self {
        SesMailer { ses, dynamo, state }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, message: &MailMessage) -> PortResult<()> {
        let pk = AttributeValue::S(format!("mail#{}", message.key));
        let seen = self
            .dynamo
            .get_item()
            .table_name(&self.state)
            .key("pk", pk.clone())
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("dynamodb GetItem (mail marker)", e))?;
        if seen.item.is_some() {
            return Ok(());
        }
        let raw = RawMessage::builder()
            .data(Blob::new(message.to_mime(chrono::Utc::now())))
            .build()
            .map_err(|e| PortError::Unexpected(e.into()))?;
        let out = self
            .ses
            .send_email()
            .from_email_address(&message.from)
            .destination(Destination::builder().to_addresses(&message.to).build())
            .content(EmailContent::builder().raw(raw).build())
            .send()
            .await
            .map_err(|e| sdk_err("sesv2 SendEmail", e))?;
        tracing::info!(key = %message.key, ses_message_id = out.message_id().unwrap_or_default(), "customer e-mail sent");
        self.dynamo
            .put_item()
            .table_name(&self.state)
            .item("pk", pk)
            .item("at", AttributeValue::N(now_ms().to_string()))
            .send()
            .await
            .map_err(|e| sdk_err("dynamodb PutItem (mail marker)", e))?;
        Ok(())
    }
}

/// Used when `aws.email_from` is not set: customer e-mail is off.
pub struct MailDisabled;

#[async_trait]
impl Mailer for MailDisabled {
    fn enabled(&self) -> bool {
        false
    }

    async fn send(&self, message: &MailMessage) -> PortResult<()> {
        tracing::debug!(key = %message.key, "customer e-mail is off (aws.email_from not set)");
        Ok(())
    }
}
