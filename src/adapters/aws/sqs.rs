//! SQS queue adapter. Retries → DLQ are the queue's redrive policy (`maxReceiveCount`);
//! poison messages are moved explicitly (send to the DLQ, then delete).

use super::batch::{all_failed, entry_results, Batcher, EntryFailure};
use super::sdk_err;
use crate::ports::{DeadLetter, Delivery, OrderQueue, PortError, PortResult, QueueDepth};
use async_trait::async_trait;
use aws_sdk_sqs::types::{
    Message, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use std::time::Duration;

pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dlq_url: String,
    /// Sends share `SendMessageBatch` requests when they arrive together (no added wait:
    /// the 201 waits on the send).
    sends: Batcher<String, String>,
    /// Acknowledgements share `DeleteMessageBatch` requests, lingering up to 50 ms: nobody
    /// waits on a delete but the worker's next receive.
    deletes: Batcher<String, ()>,
}

/// One `SendMessageBatch`; a result per body, in order.
async fn send_batch(client: &Client, url: &str, bodies: Vec<String>) -> Vec<PortResult<String>> {
    let entries: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(b)
                .build()
                .expect("id and body are set")
        })
        .collect();
    let n = entries.len();
    match client
        .send_message_batch()
        .queue_url(url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Err(e) => all_failed(n, &sdk_err("sqs SendMessageBatch", e)),
        Ok(out) => entry_results(
            "sqs SendMessageBatch",
            n,
            out.successful()
                .iter()
                .map(|ok| (ok.id(), ok.message_id().to_owned())),
            out.failed().iter().map(|f| EntryFailure {
                id: f.id(),
                code: f.code(),
                message: f.message(),
                sender_fault: f.sender_fault(),
            }),
        ),
    }
}

/// One `DeleteMessageBatch`; an already-invalid handle counts as deleted.
async fn delete_batch(client: &Client, url: &str, handles: Vec<String>) -> Vec<PortResult<()>> {
    let entries: Vec<_> = handles
        .iter()
        .enumerate()
        .map(|(i, h)| {
            aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(h)
                .build()
                .expect("id and handle are set")
        })
        .collect();
    let n = entries.len();
    match client
        .delete_message_batch()
        .queue_url(url)
        .set_entries(Some(entries))
        .send()
        .await
    {
        Err(e) => all_failed(n, &sdk_err("sqs DeleteMessageBatch", e)),
        Ok(out) => entry_results(
            "sqs DeleteMessageBatch",
            n,
            out.successful().iter().map(|ok| (ok.id(), ())).chain(
                out.failed()
                    .iter()
                    // An already-invalid handle: the message is gone, as a delete wants.
                    .filter(|f| f.code() == "ReceiptHandleIsInvalid")
                    .map(|f| (f.id(), ())),
            ),
            out.failed()
                .iter()
                .filter(|f| f.code() != "ReceiptHandleIsInvalid")
                .map(|f| EntryFailure {
                    id: f.id(),
                    code: f.code(),
                    message: f.message(),
                    // Deletes are retried whatever the fault.
                    sender_fault: false,
                }),
        ),
    }
}

fn delivery(m: &Message) -> Delivery {
    Delivery {
        message_id: m.message_id().unwrap_or_default().to_owned(),
        receipt_handle: m.receipt_handle().unwrap_or_default().to_owned(),
        body: m.body().unwrap_or_default().to_owned(),
        receive_count: m
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .and_then(|c| c.parse().ok())
            .unwrap_or(1),
    }
}

impl SqsQueue {
    /// Starts the batching tasks on the current tokio runtime.
    pub fn new(client: Client, queue_url: String, dlq_url: String) -> Self {
        let (c, url) = (client.clone(), queue_url.clone());
        let sends = Batcher::start(8, 10, Duration::ZERO, move |bodies: Vec<String>| {
            let (c, url) = (c.clone(), url.clone());
            async move { send_batch(&c, &url, bodies).await }
        });
        let (c, url) = (client.clone(), queue_url.clone());
        let deletes = Batcher::start(
            2,
            10,
            Duration::from_millis(50),
            move |handles: Vec<String>| {
                let (c, url) = (c.clone(), url.clone());
                async move { delete_batch(&c, &url, handles).await }
            },
        );
        SqsQueue {
            client,
            queue_url,
            dlq_url,
            sends,
            deletes,
        }
    }

    async fn receive_raw(
        &self,
        url: &str,
        max: usize,
        wait: Duration,
        visibility: Option<i32>,
    ) -> PortResult<Vec<Message>> {
        // A long poll legitimately takes `wait`: give it that on top of the usual bounds.
        let base = self
            .client
            .config()
            .timeout_config()
            .cloned()
            .unwrap_or_else(aws_smithy_types::timeout::TimeoutConfig::disabled);
        let plus_wait = |d: Option<Duration>| d.unwrap_or(Duration::from_secs(5)) + wait;
        let timeouts = base
            .to_builder()
            .operation_attempt_timeout(plus_wait(base.operation_attempt_timeout()))
            .operation_timeout(plus_wait(base.operation_timeout()))
            .build();
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            // SQS waits in whole seconds (0..=20); round up so a short wait is not zero.
            .wait_time_seconds(wait.as_millis().div_ceil(1000).min(20) as i32)
            .set_visibility_timeout(visibility)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .customize()
            .config_override(aws_sdk_sqs::config::Builder::default().timeout_config(timeouts))
            .send()
            .await
            .map_err(|e| sdk_err("sqs ReceiveMessage", e))?;
        Ok(out.messages.unwrap_or_default())
    }

    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        wait: Duration,
        visibility: Option<i32>,
    ) -> PortResult<Vec<Delivery>> {
        Ok(self
            .receive_raw(url, max, wait, visibility)
            .await?
            .iter()
            .map(delivery)
            .collect())
    }

    async fn counts(&self, url: &str) -> PortResult<(u64, u64)> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| sdk_err("sqs GetQueueAttributes", e))?;
        let get = |name: &QueueAttributeName| {
            out.attributes()
                .and_then(|a| a.get(name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok((
            get(&QueueAttributeName::ApproximateNumberOfMessages),
            get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }
}

#[async_trait]
impl OrderQueue for SqsQueue {
    async fn send(&self, body: &str) -> PortResult<String> {
        self.sends.call(body.to_owned()).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> PortResult<Vec<Delivery>> {
        self.receive_from(&self.queue_url, max, wait, None).await
    }

    async fn delete(&self, receipt_handle: &str) -> PortResult<()> {
        self.deletes.call(receipt_handle.to_owned()).await
    }

    async fn extend_visibility(&self, receipt_handle: &str, timeout: Duration) -> PortResult<()> {
        match self
            .client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(timeout.as_secs().min(43_200) as i32)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_receipt_handle_is_invalid() || s.is_message_not_inflight()
                }) =>
            {
                Err(PortError::NotFound(
                    "receipt handle is no longer valid".into(),
                ))
            }
            Err(e) => Err(sdk_err("sqs ChangeMessageVisibility", e)),
        }
    }

    async fn dead_letter(&self, delivery: &Delivery, reason: &str) -> PortResult<()> {
        let attr = |v: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .expect("data type is set")
        };
        self.client
            .send_message()
            .queue_url(&self.dlq_url)
            .message_body(&delivery.body)
            .message_attributes(
                "deadLetterReason",
                attr(&reason.chars().take(1000).collect::<String>()),
            )
            .message_attributes("originalMessageId", attr(&delivery.message_id))
            .send()
            .await
            .map_err(|e| sdk_err("sqs SendMessage (DLQ)", e))?;
        self.delete(&delivery.receipt_handle).await
    }

    async fn redrive(&self, max: usize) -> PortResult<usize> {
        let mut moved = 0;
        while moved < max {
            let batch = self
                .receive_from(
                    &self.dlq_url,
                    (max - moved).min(10),
                    Duration::ZERO,
                    Some(30),
                )
                .await?;
            if batch.is_empty() {
                break;
            }
            let entries: Vec<_> = batch
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&d.body)
                        .build()
                        .expect("id and body are set")
                })
                .collect();
            let sent = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| sdk_err("sqs SendMessageBatch", e))?;
            // Delete from the DLQ only what reached the main queue.
            for ok in sent.successful() {
                let d = &batch[ok
                    .id()
                    .parse::<usize>()
                    .unwrap_or(usize::MAX)
                    .min(batch.len() - 1)];
                self.client
                    .delete_message()
                    .queue_url(&self.dlq_url)
                    .receipt_handle(&d.receipt_handle)
                    .send()
                    .await
                    .map_err(|e| sdk_err("sqs DeleteMessage (DLQ)", e))?;
                moved += 1;
            }
            if !sent.failed().is_empty() {
                return Err(PortError::Unavailable(format!(
                    "{} messages could not be redriven",
                    sent.failed().len()
                )));
            }
        }
        Ok(moved)
    }

    async fn peek_dead_letters(&self, max: usize) -> PortResult<Vec<DeadLetter>> {
        // Visibility 0: looking does not hide them from the next look or a redrive.
        let messages = self
            .receive_raw(&self.dlq_url, max.min(10), Duration::ZERO, Some(0))
            .await?;
        Ok(messages
            .iter()
            .map(|m| {
                let d = delivery(m);
                DeadLetter {
                    message_id: d.message_id,
                    body: d.body,
                    receive_count: d.receive_count,
                    reason: m
                        .message_attributes()
                        .and_then(|a| a.get("deadLetterReason"))
                        .and_then(|v| v.string_value())
                        .map(str::to_owned),
                }
            })
            .collect())
    }

    async fn depth(&self) -> PortResult<QueueDepth> {
        let (visible, in_flight) = self.counts(&self.queue_url).await?;
        let (dlq_visible, dlq_hidden) = self.counts(&self.dlq_url).await?;
        Ok(QueueDepth {
            visible,
            in_flight,
            dead_letters: dlq_visible + dlq_hidden,
        })
    }
}
