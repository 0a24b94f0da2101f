//! SNS notifier: order events on the events topic (with an `eventType` message attribute),
//! alarms on the alarms topic.
//!
//! Each event is published once where AWS allows:
//! - a marker per event id in the state table ([`super::once`]): a retried worker step does not
//!   publish a recorded event again. The marker is written after SNS accepted the publish, so a
//!   crash in between can only repeat an event (subscribers drop it by `eventId`), never lose it;
//! - on a FIFO events topic (an ARN ending in `.fifo`, what terraform creates), the event id is
//!   the `MessageDeduplicationId` and the order id the `MessageGroupId`: SNS itself drops a
//!   repeat within its 5-minute deduplication window, which covers that crash window whenever
//!   the retry comes within 5 minutes (the queue's redelivery after the default 60 s visibility
//!   timeout does).
//!
//! The worker publishes an order's event right after its own conditional write made the order
//! final ([`Notifier::publish_new`]); no earlier publish can exist then, so the marker is not
//! claimed first (one request less per order). Any other publish claims it ([`Markers::claim`]).
//!
//! Order events go out in `PublishBatch` requests (up to 10 events, billed as one request per
//! 64 KB): publishes arriving while the lanes are busy, or within a few milliseconds, share one.

use super::batch::{all_failed, entry_results, Batcher, EntryFailure};
use super::once::{Failed, Markers};
use super::{now_ms, sdk_err, EventArchive};
use crate::ports::{Alarm, Notifier, OrderEvent, PortError, PortResult};
use async_trait::async_trait;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use std::time::Duration;

/// How long a lone event waits for company before its batch goes out.
const EVENT_LINGER: Duration = Duration::from_millis(5);

/// SNS FIFO topics drop a repeated deduplication id published within this long of the first.
const FIFO_DEDUP_WINDOW: Duration = Duration::from_secs(5 * 60);

/// One SNS message: subject, body and its `eventType` attribute; on a FIFO topic also its
/// group (the order) and deduplication id (the event).
struct Outgoing {
    subject: String,
    kind: String,
    body: String,
    fifo: Option<Fifo>,
}

struct Fifo {
    group: String,
    dedup: String,
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
                .set_message_group_id(m.fifo.as_ref().map(|f| f.group.clone()))
                .set_message_deduplication_id(m.fifo.map(|f| f.dedup))
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
    /// The events topic is a FIFO topic (its name ends in `.fifo`).
    events_fifo: bool,
    markers: Markers,
    alarms_topic: String,
    archive: EventArchive,
}

impl SnsNotifier {
    pub(crate) fn new(
        sns: aws_sdk_sns::Client,
        markers: Markers,
        events_topic: String,
        alarms_topic: String,
        archive: EventArchive,
    ) -> Self {
        let events_fifo = events_topic.ends_with(".fifo");
        let (client, topic) = (sns.clone(), events_topic);
        let events = Batcher::start(2, 10, EVENT_LINGER, move |messages: Vec<Outgoing>| {
            let (client, topic) = (client.clone(), topic.clone());
            async move { publish_batch(&client, &topic, messages).await }
        });
        SnsNotifier {
            sns,
            events,
            events_fifo,
            markers,
            alarms_topic,
            archive,
        }
    }

    /// One order event on the events topic (batched), archived once SNS accepted it.
    async fn send_event(&self, event: &OrderEvent) -> PortResult<()> {
        let body = crate::ports::to_json(event)?;
        let subject: String = format!("{} {}", event.event_type.as_str(), event.order_id)
            .chars()
            .take(100)
            .collect();
        self.events
            .call(Outgoing {
                subject,
                kind: event.event_type.as_str().to_owned(),
                body,
                fifo: self.events_fifo.then(|| Fifo {
                    group: event.order_id.clone(),
                    dedup: event.event_id.clone(),
                }),
            })
            .await?;
        tracing::info!(event_id = %event.event_id, event_type = event.event_type.as_str(), "order event published");
        self.archive.add(event);
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
        let pk = format!("event#{}", event.event_id);
        self.markers
            .once(&pk, |retaken_from_ms| async move {
                if let Some(at) = retaken_from_ms {
                    // An earlier attempt died between claiming and recording: it may have
                    // published. Within the FIFO window SNS drops the repeat; outside it a
                    // subscriber may see it.
                    let within =
                        self.events_fifo && now_ms() - at < FIFO_DEDUP_WINDOW.as_millis() as i64;
                    if !within {
                        tracing::warn!(event_id = %event.event_id, "an earlier publish of this event never finished; publishing it again may repeat it");
                        crate::metrics::effect_retaken("order_event");
                    }
                }
                self.send_event(event).await.map_err(Failed::from_port)
            })
            .await
    }

    async fn publish_new(&self, event: &OrderEvent) -> PortResult<()> {
        self.send_event(event).await?;
        self.markers
            .sent(&format!("event#{}", event.event_id))
            .await
    }

    async fn raise_alarm(&self, alarm: &Alarm) -> PortResult<()> {
        let pk = format!("alarm#{}", alarm.alarm_id);
        let body = crate::ports::to_json(alarm)?;
        self.markers
            .once(&pk, |_| async move {
                self.publish_json(&self.alarms_topic, &alarm.subject, "Alarm", body)
                    .await
                    .map_err(Failed::from_port)?;
                tracing::warn!(alarm_id = %alarm.alarm_id, subject = %alarm.subject, "{}", alarm.message);
                Ok(())
            })
            .await
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
