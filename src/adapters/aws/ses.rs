//! SES mailer (aws-sdk-sesv2): sends the MIME message raw, once per message key: a lease on
//! `mail#<key>` in the state table before sending, `sent` after SES accepted it (see
//! [`super::once`]). SES cannot deduplicate, so a worker that dies between SES accepting a
//! message and the marker leaves the one window for a second, identical e-mail.

use super::once::{Failed, Markers};
use super::sdk_err;
use crate::domain::mail::MailMessage;
use crate::ports::{Mailer, PortError, PortResult};
use async_trait::async_trait;
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::primitives::Blob;
use aws_sdk_sesv2::types::{Destination, EmailContent, RawMessage};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;

pub struct SesMailer {
    ses: aws_sdk_sesv2::Client,
    markers: Markers,
}

impl SesMailer {
    pub(crate) fn new(ses: aws_sdk_sesv2::Client, markers: Markers) -> Self {
        SesMailer { ses, markers }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, message: &MailMessage) -> PortResult<()> {
        let pk = format!("mail#{}", message.key);
        self.markers
            .once(&pk, |retaken_from_ms| async move {
                if retaken_from_ms.is_some() {
                    // The earlier sender died between claiming and recording: it may have sent.
                    tracing::warn!(key = %message.key, "an earlier attempt at this e-mail never finished; sending it again may repeat it");
                    crate::metrics::effect_retaken("email");
                }
                let raw = RawMessage::builder()
                    .data(Blob::new(message.to_mime(chrono::Utc::now())))
                    .build()
                    .map_err(|e| Failed::NothingSent(PortError::Unexpected(e.into())))?;
                let out = self
                    .ses
                    .send_email()
                    .from_email_address(&message.from)
                    .destination(Destination::builder().to_addresses(&message.to).build())
                    .content(EmailContent::builder().raw(raw).build())
                    .send()
                    .await
                    .map_err(|e| {
                        // SES answered with an error: it sent nothing. A timeout or a lost
                        // connection may have sent.
                        if matches!(e, SdkError::ServiceError(_)) {
                            Failed::NothingSent(send_err(e))
                        } else {
                            Failed::MaybeSent(send_err(e))
                        }
                    })?;
                tracing::info!(key = %message.key, ses_message_id = out.message_id().unwrap_or_default(), "customer e-mail sent");
                Ok(())
            })
            .await
    }
}

/// SendEmail's errors by kind: those that the same call would meet again are `Rejected` (the
/// message, its sender or the account is refused, or the request is malformed); the rest as
/// every SDK error (throttling, `LimitExceeded`, 5xx and transport are `Unavailable`). Either
/// way nothing was sent, so no marker is written and a later attempt may send.
fn send_err(e: SdkError<SendEmailError, HttpResponse>) -> PortError {
    let permanent = e.as_service_error().is_some_and(|se| {
        matches!(
            se,
            SendEmailError::MessageRejected(_)
                | SendEmailError::MailFromDomainNotVerifiedException(_)
                | SendEmailError::AccountSuspendedException(_)
                | SendEmailError::SendingPausedException(_)
                | SendEmailError::BadRequestException(_)
        )
    });
    if permanent {
        PortError::Rejected(format!("sesv2 SendEmail: {}", DisplayErrorContext(&e)))
    } else {
        sdk_err("sesv2 SendEmail", e)
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

#[cfg(test)]
mod tests {
    use super::send_err;
    use crate::ports::PortError;
    use aws_sdk_sesv2::operation::send_email::SendEmailError;
    use aws_sdk_sesv2::types::error::{
        AccountSuspendedException, LimitExceededException, MailFromDomainNotVerifiedException,
        MessageRejected, SendingPausedException, TooManyRequestsException,
    };
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::body::SdkBody;

    fn service(err: SendEmailError, status: u16) -> SdkError<SendEmailError, HttpResponse> {
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    #[test]
    fn refusals_are_permanent_and_throttling_is_transient() {
        let permanent = [
            SendEmailError::MessageRejected(
                MessageRejected::builder()
                    .message("Email address is not verified.")
                    .build(),
            ),
            SendEmailError::MailFromDomainNotVerifiedException(
                MailFromDomainNotVerifiedException::builder().build(),
            ),
            SendEmailError::AccountSuspendedException(AccountSuspendedException::builder().build()),
            SendEmailError::SendingPausedException(SendingPausedException::builder().build()),
        ];
        for err in permanent {
            let mapped = send_err(service(err, 400));
            assert!(matches!(mapped, PortError::Rejected(_)), "{mapped:?}");
            assert!(!mapped.is_transient());
        }
        let transient = [
            SendEmailError::TooManyRequestsException(TooManyRequestsException::builder().build()),
            SendEmailError::LimitExceededException(LimitExceededException::builder().build()),
        ];
        for err in transient {
            let mapped = send_err(service(err, 429));
            assert!(mapped.is_transient(), "{mapped:?}");
        }
        let mapped = send_err(SdkError::timeout_error("slow"));
        assert!(mapped.is_transient(), "{mapped:?}");
    }
}
