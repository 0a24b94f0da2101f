//! What the aws notifier and mailer delivered, seen from outside the adapters: SQS queues
//! subscribed to the events and the alarms topics, and the e-mails the emulator's SES
//! accepted (moto's `sent_messages`).

use crate::blackbox::drain;
use crate::conformance::{DeliveredAlarm, DeliveredEvent, DeliveryProbe, MailProbe, SentMail};
use orderflow::config::AwsSettings;
use serde_json::Value;
use std::sync::Mutex;

/// A standard SQS queue on each topic. SNS wraps each message in an envelope (`MessageId`,
/// `Message`, `MessageAttributes`); every publish is a new `MessageId`, so a repeated publish
/// shows as a second delivery. Draining deletes, so what arrived is kept here.
pub struct Subscribers {
    sdk: aws_config::SdkConfig,
    events_url: String,
    alarms_url: String,
    events: Mutex<Vec<DeliveredEvent>>,
    alarms: Mutex<Vec<DeliveredAlarm>>,
}

impl Subscribers {
    /// Subscribes before anything is published: SNS delivers only to existing subscriptions.
    pub async fn subscribe(sdk: &aws_config::SdkConfig, settings: &AwsSettings) -> Self {
        let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
        Subscribers {
            sdk: sdk.clone(),
            events_url: crate::subscribe(sdk, &settings.events_topic_arn, &format!("ev-{tag}"))
                .await,
            alarms_url: crate::subscribe(sdk, &settings.alarms_topic_arn, &format!("al-{tag}"))
                .await,
            events: Mutex::default(),
            alarms: Mutex::default(),
        }
    }
}

/// (SNS message id, the `Message` body) of an envelope.
fn unwrap_envelope(envelope: &Value) -> (String, &str) {
    (
        envelope["MessageId"].as_str().unwrap().to_owned(),
        envelope["Message"].as_str().unwrap(),
    )
}

#[async_trait::async_trait]
impl DeliveryProbe for Subscribers {
    async fn events(&self) -> Vec<DeliveredEvent> {
        let arrived = drain(&self.sdk, &self.events_url).await;
        let mut events = self.events.lock().unwrap();
        events.extend(arrived.iter().map(|envelope| {
            let (id, body) = unwrap_envelope(envelope);
            DeliveredEvent {
                id,
                event_type: envelope["MessageAttributes"]["eventType"]["Value"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                event: serde_json::from_str(body).unwrap(),
            }
        }));
        events.clone()
    }

    async fn alarms(&self) -> Vec<DeliveredAlarm> {
        let arrived = drain(&self.sdk, &self.alarms_url).await;
        let mut alarms = self.alarms.lock().unwrap();
        alarms.extend(arrived.iter().map(|envelope| {
            let (id, body) = unwrap_envelope(envelope);
            DeliveredAlarm {
                id,
                alarm: serde_json::from_str(body).unwrap(),
            }
        }));
        alarms.clone()
    }

    fn keeps_history(&self) -> bool {
        // SNS keeps no history: subscribers (and the event archive) do.
        false
    }
}

/// The e-mails the emulator's SES accepted from `from` (unique to one fixture).
pub struct SesOutbox {
    pub endpoint: String,
    pub from: String,
}

impl SesOutbox {
    /// moto's record of accepted raw e-mails as (source, destinations, MIME text), in the
    /// order SES accepted them: the rehearsal launcher's `/rehearsal/ses/sent` (small), else
    /// moto's own `/moto-api/data.json` (every model of the emulator: a plain `moto_server`).
    async fn accepted(&self) -> Vec<(String, Vec<String>, String)> {
        let sent = reqwest::get(format!("{}/rehearsal/ses/sent", self.endpoint))
            .await
            .unwrap();
        let (list, raw): (Vec<Value>, &str) = if sent.status().is_success() {
            (sent.json().await.unwrap(), "raw")
        } else {
            let all: Value = reqwest::get(format!("{}/moto-api/data.json", self.endpoint))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let list = all["ses"]["RawMessage"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            (list, "raw_data")
        };
        list.iter()
            .map(|m| {
                let destinations = m["destinations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_str().unwrap().to_owned())
                    .collect();
                (
                    m["source"].as_str().unwrap_or_default().to_owned(),
                    destinations,
                    m[raw].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl MailProbe for SesOutbox {
    async fn sent(&self) -> Vec<SentMail> {
        self.accepted()
            .await
            .into_iter()
            .enumerate()
            .filter(|(_, (source, _, _))| *source == self.from)
            .map(|(i, (_, mut recipients, mime))| {
                // moto adds the `To:` header's addresses to the request's destinations, so each
                // recipient shows twice; SES itself sends to the request's list alone.
                recipients.dedup();
                SentMail {
                    // moto's record only grows: a position is one accepted e-mail.
                    id: format!("ses#{i}"),
                    recipients,
                    mime,
                }
            })
            .collect()
    }
}
