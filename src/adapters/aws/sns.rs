//! SNS notifier: order events on the events topic (with an `eventType` message attribute),
//! alarms on the alarms topic.
//!
//! SNS standard topics deliver at least once and cannot drop duplicates, so the adapter
//! keeps a marker per event id in the state table: published events are not published
//! again by a retried worker step. The marker is written after the publish succeeds, so a
//! crash in between can only repeat an event (subscribers drop it by `eventId`), never lose it.
//! The worker publishes an order's event right after its own conditional write made the order
//! final ([`Notifier::publish_new`]); no earlier publish can exist then, so the marker is not read.
//!
//! Order events go out in `PublishBatch` requests (up to 10 events, billed as one request per
//! 64 KB): publishes arriving while the lanes are busy, or within a few milliseconds, share one.

use super::batch::{all_failed, entry_results, Batcher, EntryFailure};
use super::{now_ms, sdk_err, EventArchive};
use crate::ports::{Alarm, Notifier, OrderEvent, PortError, PortResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use std::time::Duration;

/// How long a lone event waits for company before its batch goes out.
const EVENT_LINGER: Duration = Duration::from_millis(5);

/// One SNS message: subject, body and its `eventType` attribute.
struct Outgoing {
    subject: String,
    kind: String,
    body: String,
}

fn event_type_attribute(kind: &str) -> PortResult<MessageAttributeValue> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(kind)
        .build()
        .map_err(|e| PortError::Unexpected(e.into()))
}

/// One `PublishBatch` on `topic`; a result per message, in order.
async fn publish_batch(
    sns: &aws_sdk_sns::Client,
    topic: &str,
    messages: Vec<Outgoing>,
) -> Vec<PortResult<()>> {
    let n = messages.len();
    let mut entries = Vec::with_capacity(n);
    for (i, m) in messages.into_iter().enumerate() {
        let entry = event_type_attribute(&m.kind).and_then(|attr| {
            PublishBatchRequestEntry::builder()
                .id(i.to_string())
                .subject(m.subject)
                .message(m.body)
                .message_attributes("eventType", attr)
                .build()
                .map_err(|e| PortError::Unexpected(e.into()))
        });
        match entry {
            Ok(e) => entries.push(e),
            Err(e) => return all_failed(n, &e),
        }
    }
    match sns
        .publish_batch()
        .topic_arn(topic)
        .set_publish_batch_request_entries(Some(entries))
        .send()
        .await
    {
        Err(e) => all_failed(n, &sdk_err("sns PublishBatch", e)),
        Ok(out) => entry_results(
            "sns PublishBatch",
            n,
            out.successful()
                .iter()
                .map(|ok| (ok.id().unwrap_or_default(), ())),
            out.failed().iter().map(|f| EntryFailure {
                id: f.id(),
                code: f.code(),
                message: f.message(),
                sender_fault: f.sender_fault(),
            }),
        ),
    }
}

pub struct SnsNotifier {
    sns: aws_sdk_sns::Client,
    events: Batcher<Outgoing, ()>,
    dynamo: aws_sdk_dynamodb::Client,
    state: String,
    alarms_topic: String,
    archive: EventArchive,
}

impl SnsNotifier {
    pub fn new(
        sns: aws_sdk_sns::Client,
        dynamo: aws_sdk_dynamodb::Client,
        state: String,
        events_topic: String,
        alarms_topic: String,
        archive: EventArchive,
    ) -> Self {
        let (client, topic) = (sns.clone(), events_topic);
        let events = Batcher::start(2, 10, EVENT_LINGER, move |messages: Vec<Outgoing>| {
            let (client, topic) = (client.clone(), topic.clone());
            async move { publish_batch(&client, &topic, messages).await }
        });
        SnsNotifier {
            sns,
            events,
            dynamo,
            state,
            alarms_topic,
            archive,
        }
    }

    async fn already_sent(&self, pk: &str) -> PortResult<bool> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.state)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("dynamodb GetItem (event marker)", e))?;
        Ok(out.item.is_some())
    }

    async fn mark_sent(&self, pk: &str) -> PortResult<()> {
        self.dynamo
            .put_item()
            .table_name(&self.state)
            .item("pk", AttributeValue::S(pk.to_owned()))
            .item("at", AttributeValue::N(now_ms().to_string()))
            .send()
            .await
            .map_err(|e| sdk_err("dynamodb PutItem (event marker)", e))?;
        Ok(())
    }

    async fn publish_json(
        &self,
        topic: &str,
        subject: &str,
        kind: &str,
        body: String,
    ) -> PortResult<()> {
        let attr = event_type_attribute(kind)?;
        self.sns
            .publish()
            .topic_arn(topic)
            .subject(subject.chars().take(100).collect::<String>())
            .message(body)
            .message_attributes("eventType", attr)
            .send()
            .await
            .map_err(|e| sdk_err("sns Publish", e))?;
        Ok(())
    }
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(&self, event: &OrderEvent) -> PortResult<()> {
        if self
            .already_sent(&format!("event#{}", event.event_id))
            .await?
        {
            return Ok(());
        }
        self.publish_new(event).await
    }

    async fn publish_new(&self, event: &OrderEvent) -> PortResult<()> {
        let body = serde_json::to_string(event).map_err(|e| PortError::Unexpected(e.into()))?;
        let subject: String = format!("{} {}", event.event_type.as_str(), event.order_id)
            .chars()
            .take(100)
            .collect();
        self.events
            .call(Outgoing {
                subject,
                kind: event.event_type.as_str().to_owned(),
                body,
            })
            .await?;
        tracing::info!(event_id = %event.event_id, event_type = event.event_type.as_str(), "order event published");
        self.archive.add(event);
        self.mark_sent(&format!("event#{}", event.event_id)).await
    }

    async fn raise_alarm(&self, alarm: &Alarm) -> PortResult<()> {
        let pk = format!("alarm#{}", alarm.alarm_id);
        if self.already_sent(&pk).await? {
            return Ok(());
        }
        let body = serde_json::to_string(alarm).map_err(|e| PortError::Unexpected(e.into()))?;
        self.publish_json(&self.alarms_topic, &alarm.subject, "Alarm", body)
            .await?;
        tracing::warn!(alarm_id = %alarm.alarm_id, subject = %alarm.subject, "{}", alarm.message);
        self.mark_sent(&pk).await
    }

    async fn flush(&self) -> PortResult<()> {
        self.archive.flush().await
    }

    async fn recent_events(&self, _limit: usize) -> PortResult<Vec<OrderEvent>> {
        // SNS keeps no history; subscribers (and the event archive) do.
        Ok(Vec::new())
    }

    async fn recent_alarms(&self, _limit: usize) -> PortResult<Vec<Alarm>> {
        Ok(Vec::new())
    }
}
