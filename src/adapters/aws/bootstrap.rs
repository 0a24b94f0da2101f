//! Creates every AWS resource Orderflow uses, idempotently, for an emulator or a sandbox
//! account. In real AWS, Terraform (`terraform/`) creates them instead.

use super::s3_client;
use crate::config::AwsSettings;
use anyhow::Context;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// What to call things and how to configure the queue.
#[derive(Debug, Clone)]
pub struct BootstrapNames {
    /// Lower-case letters, digits and `-`; every resource name starts with it.
    pub prefix: String,
    pub max_receive_count: u32,
    pub visibility_timeout_secs: u64,
}

/// Creates (or finds) the queue and DLQ with its redrive policy, the three tables with their
/// indexes and TTL, the receipts bucket and both topics. Returns `base` with every name filled in.
pub async fn bootstrap(
    sdk: &SdkConfig,
    base: &AwsSettings,
    names: &BootstrapNames,
) -> anyhow::Result<AwsSettings> {
    let p = &names.prefix;
    anyhow::ensure!(
        !p.is_empty()
            && p.len() <= 40
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "the prefix must be 1-40 lower-case letters, digits or '-'"
    );
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let s3 = s3_client(sdk, base);
    let sns = aws_sdk_sns::Client::new(sdk);

    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{p}-orders-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .context("creating the dead-letter queue")?
        .queue_url
        .context("no DLQ url")?;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("reading the DLQ's ARN")?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .context("no DLQ ARN")?;
    let redrive = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": names.max_receive_count}).to_string();
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("{p}-orders"))
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            names.visibility_timeout_secs.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .context("creating the order queue")?
        .queue_url
        .context("no queue url")?;

    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let gsi = |name: &str, hash: &str| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(hash, KeyType::Hash).expect("complete"))
            .key_schema(key("orderId", KeyType::Range).expect("complete"))
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
    };
    let orders_table = format!("{p}-orders");
    let products_table = format!("{p}-products");
    let state_table = format!("{p}-state");
    let tables = [
        (
            orders_table.clone(),
            "orderId",
            vec!["orderId", "status", "kind"],
            true,
        ),
        (
            products_table.clone(),
            "productId",
            vec!["productId"],
            false,
        ),
        (state_table.clone(), "pk", vec!["pk"], false),
    ];
    for (name, hash, attrs, indexes) in tables {
        if dynamo
            .describe_table()
            .table_name(&name)
            .send()
            .await
            .is_ok()
        {
            continue;
        }
        let mut create = dynamo
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(hash, KeyType::Hash)?);
        for a in attrs {
            create = create.attribute_definitions(attr(a)?);
        }
        if indexes {
            create = create
                .global_secondary_indexes(gsi("by-status", "status")?)
                .global_secondary_indexes(gsi("by-time", "kind")?);
        }
        create
            .send()
            .await
            .with_context(|| format!("creating table {name}"))?;
    }
    let ttl = dynamo
        .update_time_to_live()
        .table_name(&state_table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("ttl")
                .build()?,
        )
        .send()
        .await;
    match ttl {
        Ok(_) => {}
        // Enabling TTL twice is refused with a ValidationException ("already enabled").
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.code() == Some("ValidationException")) => {}
        Err(e) => return Err(anyhow::Error::new(e).context("enabling TTL on the state table")),
    }

    let bucket = format!("{p}-receipts");
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".into());
    let mut create = s3.create_bucket().bucket(&bucket);
    if region != "us-east-1" {
        create = create.create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                    region.as_str(),
                ))
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_bucket_already_owned_by_you()) => {}
        Err(e) => return Err(anyhow::Error::new(e).context(format!("creating bucket {bucket}"))),
    }

    if let Some(from) = &base.email_from {
        // SES only sends from verified identities; emulators verify on creation.
        let ses = aws_sdk_sesv2::Client::new(sdk);
        match ses
            .create_email_identity()
            .email_identity(from)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_already_exists_exception()) => {}
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context(format!("creating the SES identity {from}"))
                )
            }
        }
    }

    let events_topic_arn = sns
        .create_topic()
        // FIFO, as terraform makes it: SNS drops a repeated event id for 5 minutes.
        .name(format!("{p}-events.fifo"))
        .attributes("FifoTopic", "true")
        .attributes("FifoThroughputScope", "MessageGroup")
        .send()
        .await
        .context("creating the events topic")?
        .topic_arn
        .context("no topic ARN")?;
    let alarms_topic_arn = sns
        .create_topic()
        .name(format!("{p}-alarms"))
        .send()
        .await
        .context("creating the alarms topic")?
        .topic_arn
        .context("no topic ARN")?;
    // The key that wraps the data key (terraform: the stack's customer-managed key).
    let kms_key_id = aws_sdk_kms::Client::new(sdk)
        .create_key()
        .description(format!("{p} orderflow"))
        .send()
        .await
        .context("creating the KMS key")?
        .key_metadata
        .map(|m| m.arn.unwrap_or(m.key_id))
        .context("no KMS key id")?;

    Ok(AwsSettings {
        queue_url,
        dlq_url,
        orders_table,
        products_table,
        state_table,
        receipts_bucket: bucket,
        events_topic_arn,
        alarms_topic_arn,
        kms_key_id: Some(kms_key_id),
        ..base.clone()
    })
}
