//! Send-once effects on the aws family (`src/adapters/aws/once.rs`): a lease before sending,
//! `sent` after; SES counted by what moto accepted, SNS by what a subscriber received.

use crate::moto::moto;
use crate::{MAX_RECEIVES, VISIBILITY_SECS};
use aws_sdk_dynamodb::types::AttributeValue;
use orderflow::adapters::aws::{bootstrap, services_with, BootstrapNames};
use orderflow::config::AwsSettings;
use orderflow::domain::mail::MailMessage;
use orderflow::domain::OrderId;
use orderflow::ports::Services;
use orderflow::ports::{OrderEvent, PortError};
use std::time::{Duration, Instant};

struct Fixture {
    endpoint: String,
    settings: AwsSettings,
    services: Services,
    sdk: aws_config::SdkConfig,
    from: String,
}

/// Fresh resources with customer e-mail on (a verified sender).
async fn fixture() -> Option<Fixture> {
    let m = moto().await?;
    let sdk = m.sdk().await;
    let prefix = format!("o{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
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
    let settings = bootstrap(&sdk, &base, &names).await.unwrap();
    let services = services_with(&sdk, &settings);
    Some(Fixture {
        endpoint: m.endpoint.clone(),
        settings,
        services,
        sdk,
        from,
    })
}

impl Fixture {
    fn message(&self, key: &str, to: &str) -> MailMessage {
        MailMessage {
            key: key.into(),
            from: self.from.clone(),
            to: to.into(),
            subject: "Your order".into(),
            text: "Thank you.".into(),
            attachment: None,
        }
    }

    /// E-mails SES accepted for `to` (the launcher's `/rehearsal/ses/sent`).
    async fn sent_to(&self, to: &str) -> usize {
        let sent: Vec<serde_json::Value> =
            reqwest::get(format!("{}/rehearsal/ses/sent", self.endpoint))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        sent.iter()
            .filter(|m| {
                m["destinations"]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|d| d == to))
            })
            .count()
    }

    fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk)
    }

    /// Writes the state-table item `pk` as another sender (or an older release) left it.
    async fn put_marker(&self, pk: &str, attrs: &[(&str, AttributeValue)]) {
        let mut put = self
            .dynamo()
            .put_item()
            .table_name(&self.settings.state_table)
            .item("pk", AttributeValue::S(pk.into()));
        for (k, v) in attrs {
            put = put.item(*k, v.clone());
        }
        put.send().await.unwrap();
    }

    async fn marker_state(&self, pk: &str) -> Option<String> {
        let item = self
            .dynamo()
            .get_item()
            .table_name(&self.settings.state_table)
            .key("pk", AttributeValue::S(pk.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item?;
        Some(item.get("st")?.as_s().unwrap().clone())
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// Workers that reach the same e-mail at once (a redelivery while the first still runs) send it
/// once: the first takes the lease, the others wait it out and find it sent.
#[tokio::test]
async fn concurrent_sends_of_one_email_reach_ses_once() {
    let Some(f) = fixture().await else { return };
    let key = format!("{}:confirmation", OrderId::generate());
    let to = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    let message = f.message(&key, &to);
    let sends = (0..6).map(|_| f.services.mailer.send(&message));
    for r in futures_util::future::join_all(sends).await {
        r.unwrap();
    }
    assert_eq!(
        f.sent_to(&to).await,
        1,
        "one e-mail for six concurrent sends"
    );
    assert_eq!(
        f.marker_state(&format!("mail#{key}")).await.as_deref(),
        Some("sent")
    );
}

/// A lease held by a live sender is waited out, and the e-mail is then found sent; a lease
/// left by a sender that died is retaken and the e-mail sent; a marker written before leases
/// existed (no state) counts as sent.
#[tokio::test]
async fn leases_are_waited_out_retaken_when_dead_and_old_markers_count_as_sent() {
    let Some(f) = fixture().await else { return };
    let to = format!("{}@example.com", uuid::Uuid::new_v4().simple());

    let live = format!("{}:confirmation", OrderId::generate());
    let pk = format!("mail#{live}");
    let now = now_ms();
    f.put_marker(
        &pk,
        &[
            ("st", s("sending")),
            ("lease_owner", s("other")),
            ("lease_until", n(now + 1500)),
            ("at", n(now)),
        ],
    )
    .await;
    let finisher = {
        let f_pk = pk.clone();
        let (dynamo, table) = (f.dynamo(), f.settings.state_table.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            dynamo
                .put_item()
                .table_name(table)
                .item("pk", s(&f_pk))
                .item("st", s("sent"))
                .item("at", n(now_ms()))
                .send()
                .await
                .unwrap();
        })
    };
    let started = Instant::now();
    f.services
        .mailer
        .send(&f.message(&live, &to))
        .await
        .unwrap();
    finisher.await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "waited for the live sender"
    );
    assert_eq!(
        f.sent_to(&to).await,
        0,
        "the live sender's e-mail is not sent again"
    );

    let dead = format!("{}:confirmation", OrderId::generate());
    let now = now_ms();
    f.put_marker(
        &format!("mail#{dead}"),
        &[
            ("st", s("sending")),
            ("lease_owner", s("gone")),
            ("lease_until", n(now - 1)),
            ("at", n(now - 60_000)),
        ],
    )
    .await;
    f.services
        .mailer
        .send(&f.message(&dead, &to))
        .await
        .unwrap();
    assert_eq!(
        f.sent_to(&to).await,
        1,
        "a dead sender's lease is retaken and the e-mail sent"
    );
    assert_eq!(
        f.marker_state(&format!("mail#{dead}")).await.as_deref(),
        Some("sent")
    );

    let old = format!("{}:confirmation", OrderId::generate());
    f.put_marker(&format!("mail#{old}"), &[("at", n(now_ms()))])
        .await;
    f.services.mailer.send(&f.message(&old, &to)).await.unwrap();
    assert_eq!(
        f.sent_to(&to).await,
        1,
        "a marker from before leases means sent"
    );
}

/// A worker that dies after SNS accepted an event and before recording it publishes it again
/// on the retry: the FIFO events topic drops the repeat (same deduplication id), so a
/// subscriber receives it once.
#[tokio::test]
async fn an_event_published_again_after_a_crash_reaches_a_fifo_subscriber_once() {
    let Some(f) = fixture().await else { return };
    assert!(
        f.settings.events_topic_arn.ends_with(".fifo"),
        "{}",
        f.settings.events_topic_arn
    );
    let url = crate::subscribe(
        &f.sdk,
        &f.settings.events_topic_arn,
        &format!(
            "sub-{}.fifo",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ),
    )
    .await;
    let sqs = aws_sdk_sqs::Client::new(&f.sdk);
    let event = crate::conformance::sample_event();
    f.services.notifier.publish_new(&event).await.unwrap();
    // The crash: SNS has the event, the state table never heard of it.
    f.dynamo()
        .delete_item()
        .table_name(&f.settings.state_table)
        .key("pk", s(&format!("event#{}", event.event_id)))
        .send()
        .await
        .unwrap();
    f.services.notifier.publish(&event).await.unwrap();
    assert_eq!(
        f.marker_state(&format!("event#{}", event.event_id))
            .await
            .as_deref(),
        Some("sent"),
        "the second publish claimed and recorded it (so it did go to SNS again)"
    );
    let mut got = Vec::new();
    for _ in 0..3 {
        let out = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in out.messages() {
            got.push(m.body().unwrap_or_default().to_owned());
            sqs.delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    assert_eq!(got.len(), 1, "delivered once: {got:?}");
    let delivered: OrderEvent = serde_json::from_str(&got[0]).unwrap();
    assert_eq!(delivered, event);
}

/// SES refuses a sender that is not a verified identity (as in the SES sandbox): the mailer
/// says `Rejected` (permanent, by the error's kind) and leaves no marker (the lease is given
/// back), so a verified sender sends at once; a sent message is not sent again.
#[tokio::test]
async fn ses_refusals_are_permanent_and_leave_no_marker() {
    let Some(f) = fixture().await else { return };
    let to = format!("{}@example.com", uuid::Uuid::new_v4().simple());
    let key = format!("{}:confirmation", OrderId::generate());
    let refused = MailMessage {
        from: "nobody-verified-this@example.org".into(),
        ..f.message(&key, &to)
    };
    let err = f.services.mailer.send(&refused).await.unwrap_err();
    assert!(matches!(err, PortError::Rejected(_)), "{err:?}");
    assert!(!err.is_transient());
    assert_eq!(
        f.marker_state(&format!("mail#{key}")).await,
        None,
        "lease given back"
    );
    // Nothing was marked sent: the same key sends once the sender is right, without waiting.
    let started = Instant::now();
    f.services.mailer.send(&f.message(&key, &to)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no lease to wait out"
    );
    assert_eq!(f.sent_to(&to).await, 1);
    // Sent once: a repeat is recognised by the marker and not sent to SES again, so even a
    // sender SES would now refuse does not matter.
    f.services.mailer.send(&refused).await.unwrap();
    assert_eq!(f.sent_to(&to).await, 1);
}
