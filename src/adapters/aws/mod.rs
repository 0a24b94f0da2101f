//! The aws adapter family: SQS, DynamoDB, S3 and SNS through the AWS SDK, sharing one
//! `SdkConfig` from the default provider chain (the instance profile on EC2).
//!
//! | port           | adapter           | service                                   |
//! |----------------|-------------------|-------------------------------------------|
//! | OrderQueue     | [`SqsQueue`]      | SQS queue + dead-letter queue             |
//! | OrderStore     | [`DynamoStore`]   | DynamoDB orders, products and state tables|
//! | ReceiptStore   | [`S3Receipts`]    | S3 `receipts/{orderId}.pdf` (GetObject)   |
//! | Notifier       | [`SnsNotifier`]   | SNS events and alarms topics              |
//! | PaymentGateway | [`DynamoGateway`] | simulated gateway, ledger in DynamoDB     |
//! | Mailer         | [`SesMailer`]     | SES v2 raw e-mail (when `aws.email_from`) |
//! | KeyRing        | [`KmsKeyRing`]    | KMS data key, wrapped in the state table  |
//!
//! SDK errors are mapped into [`PortError`] here, by error kind: throttling, timeouts and
//! 5xx are `Unavailable`; conditional-check failures become `AlreadyExists`/`Precondition`
//! at the call sites that expect them.

mod archive;
mod batch;
mod bootstrap;
mod counter;
mod dynamo;
mod keys;
mod once;
mod s3;
mod ses;
mod sns;
mod sqs;

pub use archive::EventArchive;
pub use bootstrap::{bootstrap, BootstrapNames};
pub use counter::RequestCounter;
pub use dynamo::{DynamoGateway, DynamoStore};
pub use keys::KmsKeyRing;
pub use s3::S3Receipts;
pub use ses::{MailDisabled, SesMailer};
pub use sns::SnsNotifier;
pub use sqs::SqsQueue;

use crate::config::AwsSettings;
use crate::ports::PortError;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;

/// Loads the shared SDK config: default credential chain, the configured region and endpoint,
/// and bounded timeouts with bounded retries (standard mode: exponential back-off with
/// jitter), so a dead dependency fails fast instead of hanging requests. SQS long polls get
/// their wait on top of the attempt timeout (see `SqsQueue`).
pub async fn sdk_config(settings: &AwsSettings) -> SdkConfig {
    let ms = Duration::from_millis;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(ms(settings.connect_timeout_ms))
                .operation_attempt_timeout(ms(settings.attempt_timeout_ms))
                .operation_timeout(ms(settings.operation_timeout_ms))
                .build(),
        )
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(settings.max_attempts)
                .with_initial_backoff(ms(100))
                .with_max_backoff(ms(2000)),
        );
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// Whether an error code is one the SDK itself retries as throttling or transient (its own
/// lists, `aws_runtime::retries::classifiers`; by the time the error reaches us the SDK has
/// already retried it within its attempt budget).
fn retried_by_sdk(code: &str) -> bool {
    THROTTLING_ERRORS.contains(&code) || TRANSIENT_ERRORS.contains(&code)
}

/// Maps an SDK error by kind: transport failures, timeouts, the SDK's throttling and transient
/// error codes, 429 and 5xx are transient (`Unavailable`); anything else is `Unexpected`.
pub(crate) fn sdk_err<E>(op: &str, e: SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            status >= 500 || status == 429 || se.err().code().is_some_and(retried_by_sdk)
        }
        _ => false,
    };
    let text = format!("{op}: {}", DisplayErrorContext(&e));
    if transient {
        PortError::Unavailable(text)
    } else {
        PortError::Unexpected(anyhow::anyhow!(text))
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// An S3 client; path-style addressing when an endpoint is configured (emulators).
pub fn s3_client(sdk: &SdkConfig, settings: &AwsSettings) -> aws_sdk_s3::Client {
    s3_client_counted(sdk, settings, None)
}

fn s3_client_counted(
    sdk: &SdkConfig,
    settings: &AwsSettings,
    counter: Option<&RequestCounter>,
) -> aws_sdk_s3::Client {
    let custom_endpoint =
        settings.endpoint_url.is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let mut b = aws_sdk_s3::config::Builder::from(sdk).force_path_style(custom_endpoint);
    if let Some(c) = counter {
        b = b.interceptor(c.clone());
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// The five ports on AWS, sharing one SDK config from the default provider chain.
pub async fn services(settings: &AwsSettings) -> crate::ports::Services {
    services_with(&sdk_config(settings).await, settings)
}

/// The ports on AWS with a given SDK config (tests pass emulator credentials).
pub fn services_with(sdk: &SdkConfig, settings: &AwsSettings) -> crate::ports::Services {
    services_counted(sdk, settings, None)
}

/// As [`services_with`], counting every request with `counter` when given.
pub fn services_counted(
    sdk: &SdkConfig,
    settings: &AwsSettings,
    counter: Option<RequestCounter>,
) -> crate::ports::Services {
    use std::sync::Arc;
    macro_rules! client {
        ($krate:ident) => {{
            let mut b = $krate::config::Builder::from(sdk);
            if let Some(c) = &counter {
                b = b.interceptor(c.clone());
            }
            $krate::Client::from_conf(b.build())
        }};
    }
    let dynamo: aws_sdk_dynamodb::Client = client!(aws_sdk_dynamodb);
    // A send-once lease outlives the longest send: the SDK gives up on a call by then.
    let markers = once::Markers::new(
        dynamo.clone(),
        settings.state_table.clone(),
        Duration::from_millis(settings.operation_timeout_ms.saturating_mul(2)),
    );
    let s3 = s3_client_counted(sdk, settings, counter.as_ref());
    let store = Arc::new(DynamoStore::new(
        dynamo.clone(),
        settings.orders_table.clone(),
        settings.products_table.clone(),
        settings.state_table.clone(),
    ));
    crate::ports::Services {
        queue: Arc::new(SqsQueue::new(
            client!(aws_sdk_sqs),
            settings.queue_url.clone(),
            settings.dlq_url.clone(),
        )),
        store: store.clone(),
        inventory: store.clone(),
        records: store,
        receipts: Arc::new(S3Receipts::new(
            s3.clone(),
            settings.receipts_bucket.clone(),
        )),
        notifier: Arc::new(SnsNotifier::new(
            client!(aws_sdk_sns),
            markers.clone(),
            settings.events_topic_arn.clone(),
            settings.alarms_topic_arn.clone(),
            EventArchive::start(s3, settings.receipts_bucket.clone()),
        )),
        payments: Arc::new(DynamoGateway::new(
            dynamo.clone(),
            settings.state_table.clone(),
        )),
        keys: Arc::new(KmsKeyRing::new(
            client!(aws_sdk_kms),
            dynamo.clone(),
            settings.state_table.clone(),
            settings.kms_key_id.clone(),
        )),
        mailer: match &settings.email_from {
            Some(_) => Arc::new(SesMailer::new(client!(aws_sdk_sesv2), markers)),
            None => Arc::new(MailDisabled),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::sdk_err;
    use crate::ports::PortError;
    use aws_sdk_sqs::operation::send_message::SendMessageError;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::client::result::SdkError;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn service(code: &str, status: u16) -> SdkError<SendMessageError, HttpResponse> {
        let err = SendMessageError::generic(ErrorMetadata::builder().code(code).build());
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    #[test]
    fn the_sdks_throttling_and_transient_codes_are_unavailable() {
        // On the old hand-written list, and codes it missed (all on the SDK's lists), at a 400.
        for code in [
            "ThrottlingException",
            "RequestLimitExceeded",
            "SlowDown",
            "PriorRequestNotComplete",
            "RequestThrottledException",
            "TransactionInProgressException",
            "LimitExceededException",
            "RequestTimeoutException",
        ] {
            let mapped = sdk_err("sqs SendMessage", service(code, 400));
            assert!(
                matches!(mapped, PortError::Unavailable(_)),
                "{code}: {mapped:?}"
            );
        }
    }

    #[test]
    fn other_client_errors_are_unexpected_and_5xx_is_unavailable() {
        let mapped = sdk_err("sqs SendMessage", service("InvalidParameterValue", 400));
        assert!(matches!(mapped, PortError::Unexpected(_)), "{mapped:?}");
        let mapped = sdk_err("sqs SendMessage", service("InternalError", 503));
        assert!(matches!(mapped, PortError::Unavailable(_)), "{mapped:?}");
        let mapped =
            sdk_err::<SendMessageError>("sqs SendMessage", SdkError::timeout_error("slow"));
        assert!(matches!(mapped, PortError::Unavailable(_)), "{mapped:?}");
    }
}
