//! SNS notifier: order events on the events topic (with an `eventType` message attribute),
//! alarms on the alarms topic.
//!
//! SNS standard topics deliver at least once and cannot drop duplicates, so the adapter
//! keeps a marker per event id in the state table: published events are not published
//! again by a retried worker step. The marker is written after the publish succeeds, so a
//! crash in between can only repeat an event (subscribers drop it by `eventId`), never lose it.

use super::{now_ms, sdk_err, EventArchive};
use crate::ports::{Alarm, Notifier, OrderEvent, PortError, PortResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sns::types::MessageAttributeValue;

pub struct SnsNotifier {
    sns: aws_sdk_sns::Client,
    dynamo: aws_sdk_dynamodb::Client,
    state: String,
    events_topic: String,
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
        SnsNotifier {
            sns,
            dynamo,
            state,
            events_topic,
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
        let attr = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(kind)
            .build()
            .map_err(|e| PortError::Unexpected(e.into()))?;
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
        if self.already_sent(&pk).await? {
            return Ok(());
        }
        let body = serde_json::to_string(event).map_err(|e| PortError::Unexpected(e.into()))?;
        let subject = format!("{} {}", event.event_type.as_str(), event.order_id);
        self.publish_json(
            &self.events_topic,
            &subject,
            event.event_type.as_str(),
            body,
        )
        .await?;
        tracing::info!(event_id = %event.event_id, event_type = event.event_type.as_str(), "order event published");
        self.archive.add(event);
        self.mark_sent(&pk).await
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
