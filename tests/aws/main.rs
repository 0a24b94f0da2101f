//! The AWS adapter family against moto's emulator over HTTP: the same conformance suite
//! as the embedded family, and AWS-specific checks.

#[path = "../common/conformance.rs"]
mod conformance;

mod blackbox;
mod economy;
mod moto;
mod once;
mod outage;
mod probes;

use crate::conformance as c;
use moto::moto;
use orderflow::adapters::aws::{bootstrap, services_with, BootstrapNames};
use orderflow::config::AwsSettings;
use orderflow::ports::Services;
use std::time::Duration;

const VISIBILITY_SECS: u64 = 1;
const MAX_RECEIVES: u32 = 3;

/// Fresh resources (unique names) on the shared emulator; `None` when it is not installed.
async fn fresh() -> Option<(AwsSettings, Services, aws_config::SdkConfig)> {
    let m = moto().await?;
    let sdk = m.sdk().await;
    let prefix = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let names = BootstrapNames {
        prefix,
        max_receive_count: MAX_RECEIVES,
        visibility_timeout_secs: VISIBILITY_SECS,
    };
    let settings = bootstrap(&sdk, &m.base_settings(), &names)
        .await
        .expect("bootstrap on the emulator");
    let services = services_with(&sdk, &settings);
    Some((settings, services, sdk))
}

/// An SQS queue subscribed to `topic` (a FIFO queue when `name` ends in `.fifo`; raw delivery
/// there, for the event itself as the body); returns its URL.
pub async fn subscribe(sdk: &aws_config::SdkConfig, topic: &str, name: &str) -> String {
    use aws_sdk_sqs::types::QueueAttributeName;
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let fifo = name.ends_with(".fifo");
    let mut create = sqs.create_queue().queue_name(name);
    if fifo {
        create = create.attributes(QueueAttributeName::FifoQueue, "true");
    }
    let url = create.send().await.unwrap().queue_url.unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let mut sub = aws_sdk_sns::Client::new(sdk)
        .subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(arn);
    if fifo {
        sub = sub.attributes("RawMessageDelivery", "true");
    }
    sub.send().await.unwrap();
    url
}

/// Fresh resources for the conformance suite, with customer e-mail on (a verified sender of
/// its own) and subscribers on both topics.
async fn adapters() -> Option<c::Adapters> {
    let m = moto().await?;
    let sdk = m.sdk().await;
    let prefix = format!("c{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let from = format!("{prefix}@example.com");
    let base = AwsSettings {
        email_from: Some(from.clone()),
        ..m.base_settings()
    };
    let names = BootstrapNames {
        prefix,
        max_receive_count: MAX_RECEIVES,
        visibility_timeout_secs: VISIBILITY_SECS,
    };
    let settings = bootstrap(&sdk, &base, &names)
        .await
        .expect("bootstrap on the emulator");
    let deliveries = probes::Subscribers::subscribe(&sdk, &settings).await;
    let s = services_with(&sdk, &settings);
    Some(c::Adapters {
        queue: c::QueueFixture {
            queue: s.queue,
            visibility: Duration::from_secs(VISIBILITY_SECS),
            max_receive_count: MAX_RECEIVES,
        },
        store: s.store,
        inventory: s.inventory,
        records: s.records,
        receipts: s.receipts,
        notifier: s.notifier,
        deliveries: Box::new(deliveries),
        mail: c::MailFixture {
            mailer: s.mailer,
            from: from.clone(),
            probe: Box::new(probes::SesOutbox {
                endpoint: m.endpoint.clone(),
                from,
            }),
        },
        payments: s.payments,
        keep: Box::new(()),
    })
}

crate::conformance_suite!(adapters);

/// Two processes on one stack unwrap the same data key (the first generated it with KMS and
/// stored it wrapped); another stack has its own. The state table holds only ciphertext.
#[tokio::test]
async fn keys_agree_across_processes() {
    let Some((settings, first, sdk)) = fresh().await else {
        return;
    };
    let Some((_, elsewhere, _)) = fresh().await else {
        return;
    };
    let second = services_with(&sdk, &settings);
    c::keys_agree_across_processes(
        first.keys.as_ref(),
        second.keys.as_ref(),
        elsewhere.keys.as_ref(),
    )
    .await;
    let item = aws_sdk_dynamodb::Client::new(&sdk)
        .get_item()
        .table_name(&settings.state_table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("key#data".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let wrapped = item["wrapped"].as_b().unwrap().as_ref().to_vec();
    let key_hex = first.keys.data_key().await.unwrap().to_hex();
    let key_bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&key_hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert!(
        !wrapped.windows(32).any(|w| w == key_bytes.as_slice()),
        "the table holds the key's ciphertext, not the key"
    );
    // Without a KMS key configured, a stack that already has its key still works.
    let no_kms = AwsSettings {
        kms_key_id: None,
        ..settings.clone()
    };
    let third = services_with(&sdk, &no_kms);
    assert_eq!(
        third.keys.data_key().await.unwrap(),
        first.keys.data_key().await.unwrap()
    );
}

/// A receipt object is typed and encrypted, and `get` returns its bytes (what the API serves).
#[tokio::test]
async fn receipts_are_typed_and_encrypted() {
    let Some((settings, s, sdk)) = fresh().await else {
        return;
    };
    let key = format!("receipts/{}.pdf", orderflow::domain::OrderId::generate());
    s.receipts
        .put(&key, b"%PDF-1.3 test".to_vec())
        .await
        .unwrap();
    let head = orderflow::adapters::aws::s3_client(&sdk, &settings)
        .head_object()
        .bucket(&settings.receipts_bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("application/pdf"));
    assert_eq!(
        head.server_side_encryption().map(|e| e.as_str()),
        Some("AES256")
    );
    assert_eq!(s.receipts.get(&key).await.unwrap(), b"%PDF-1.3 test");
}

/// A product item written before the stock ledger (no `seq`, `openingStock` or `active`, as
/// seeded by an older release) reads as active, starts its ledger at its stock then, and
/// takes reservations and adjustments like any other.
#[tokio::test]
async fn a_product_from_before_the_ledger_starts_one() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use orderflow::domain::{Adjustment, MovementKind, OrderId, ProductId};
    use orderflow::ports::{Adjusted, Reservation};
    let Some((settings, s, sdk)) = fresh().await else {
        return;
    };
    let n = |v: i64| AttributeValue::N(v.to_string());
    let st = |v: &str| AttributeValue::S(v.to_owned());
    aws_sdk_dynamodb::Client::new(&sdk)
        .put_item()
        .table_name(&settings.products_table)
        .item("productId", st("sku-old"))
        .item("name", st("Old mug"))
        .item("description", st(""))
        .item("priceAmount", n(900))
        .item("currency", st("USD"))
        .item("stock", n(7))
        .item("position", n(0))
        .send()
        .await
        .unwrap();
    let id = ProductId::parse("sku-old").unwrap();
    let p = s.inventory.get_product(&id).await.unwrap().unwrap();
    assert!(p.active && p.stock == 7, "{p:?}");
    let page = s
        .inventory
        .stock_ledger(&id, None, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((page.opening, page.stock, page.movements.len()), (7, 7, 0));

    let order = OrderId::generate();
    assert_eq!(
        s.inventory
            .reserve_stock(&order, &[(id.clone(), 2)])
            .await
            .unwrap(),
        Reservation::Reserved
    );
    let fix = Adjustment {
        key: "stocktake".into(),
        kind: MovementKind::Corrected,
        delta: -1,
        by: "ops@example.com".into(),
        reason: "broken".into(),
    };
    assert!(matches!(
        s.inventory.adjust_stock(&id, &fix).await.unwrap(),
        Adjusted::Applied(m) if m.seq == 2 && m.level_after == 4
    ));
    let page = s
        .inventory
        .stock_ledger(&id, None, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (page.opening, page.stock),
        (7, 4),
        "the opening level is the stock the ledger began at"
    );
    assert_eq!(
        page.movements
            .iter()
            .map(|m| (m.seq, m.delta))
            .collect::<Vec<_>>(),
        [(2, -1), (1, -2)]
    );
}

/// `orderflow bootstrap` with `ORDERFLOW__BACKEND=aws` set (as on an instance) creates the
/// resources and writes a config `check-config` accepts.
#[tokio::test]
async fn bootstrap_runs_with_backend_aws_in_the_environment() {
    let Some(m) = moto().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.toml");
    std::fs::write(&empty, "").unwrap();
    let written = dir.path().join("orderflow.toml");
    let prefix = format!("b{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let run = |args: &[&str], config: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .args(args)
            .env("ORDERFLOW_CONFIG", config)
            .env("ORDERFLOW__BACKEND", "aws")
            .env("ORDERFLOW__LOG__LEVEL", "warn")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .unwrap()
    };
    let out = run(
        &[
            "bootstrap",
            "--endpoint-url",
            &m.endpoint,
            "--region",
            "us-east-1",
            "--prefix",
            &prefix,
            "--write-config",
            written.to_str().unwrap(),
        ],
        &empty,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(text.contains(&format!("{prefix}-orders")), "{text}");
    let check = run(&["check-config"], &written);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
