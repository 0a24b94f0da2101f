//! The dead-letter queue: the alarm that cannot be missed, and the operator commands
//! (`orderflow dlq list`, `orderflow dlq redrive`).
//!
//! # The alarm
//! An *episode* starts when the DLQ becomes non-empty (or the worker saw a message go
//! there: a fast drain or a redrive between two polls must not hide it) and ends when it is
//! empty again. Each episode raises one alarm and one recovery message, fleet-wide: the
//! transition is a compare-and-set on the `dlq-alarm` coordination record, so of several
//! workers exactly one moves the episode on, and alarm ids are per episode, so the notifier
//! records each once. While an episode is open every poll re-asserts its alarm (a no-op once
//! recorded), so a crash between the transition and the publish loses nothing.

use crate::domain::OrderId;
use crate::ports::Services;
use crate::ports::{Alarm, DeadLetter, OrderMessage, PortResult, RecordValue};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const RECORD: &str = "dlq-alarm";

/// What one check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmStep {
    Quiet,
    Raised { episode: u64, depth: u64 },
    Recovered { episode: u64 },
}

pub struct DlqMonitor {
    services: Services,
    poll: Duration,
    /// The worker pokes this when it dead-letters a message or a message fails its last try.
    grew: Arc<Notify>,
}

/// The fleet's alarm state, in the `dlq-alarm` record: the current (or last) episode, open
/// while the dead-letter queue holds messages. Kept as `open:N` / `closed:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Episode {
    open: bool,
    number: u64,
}

impl RecordValue for Episode {
    fn encode(&self) -> String {
        let state = if self.open { "open" } else { "closed" };
        format!("{state}:{}", self.number)
    }
    fn decode(text: &str) -> Option<Episode> {
        let (state, n) = text.split_once(':')?;
        let open = match state {
            "open" => true,
            "closed" => false,
            _ => return None,
        };
        Some(Episode {
            open,
            number: n.parse().ok()?,
        })
    }
}

impl DlqMonitor {
    pub fn new(services: Services, poll: Duration) -> Self {
        DlqMonitor {
            services,
            poll,
            grew: Arc::new(Notify::new()),
        }
    }

    /// Handle the worker uses to report a message going to the DLQ.
    pub fn growth_signal(&self) -> Arc<Notify> {
        self.grew.clone()
    }

    /// One check: open an episode (alarm) if the DLQ holds messages or `grew`, close it
    /// (recovery) when it is empty again.
    pub async fn check(&self, grew: bool) -> PortResult<AlarmStep> {
        let queue_depth = self.services.queue.depth().await?;
        crate::metrics::queue_depth(&queue_depth);
        let depth = queue_depth.dead_letters;
        let store = &self.services.records;
        let record = store.read::<Episode>(RECORD).await?;
        let version = record.as_ref().map(|r| r.version);
        // Never written, or unreadable: no episode yet.
        let Episode {
            open,
            number: episode,
        } = record.and_then(|r| r.value).unwrap_or(Episode {
            open: false,
            number: 0,
        });
        if depth > 0 || grew {
            if open {
                self.alarm(episode, depth).await?;
                return Ok(AlarmStep::Quiet);
            }
            let next = episode + 1;
            let opened = Episode {
                open: true,
                number: next,
            };
            if store.write(RECORD, version, &opened).await? {
                self.alarm(next, depth).await?;
                crate::metrics::notification("alarm");
                return Ok(AlarmStep::Raised {
                    episode: next,
                    depth,
                });
            }
            return Ok(AlarmStep::Quiet);
        }
        let closed = Episode {
            open: false,
            number: episode,
        };
        if open && store.write(RECORD, version, &closed).await? {
            self.recovery(episode).await?;
            crate::metrics::notification("alarm");
            return Ok(AlarmStep::Recovered { episode });
        }
        if !open && episode > 0 {
            self.recovery(episode).await?;
        }
        Ok(AlarmStep::Quiet)
    }

    async fn alarm(&self, episode: u64, depth: u64) -> PortResult<()> {
        self.services
            .notifier
            .raise_alarm(&Alarm {
                alarm_id: format!("dlq-episode-{episode}"),
                subject: "Orderflow: orders are in the dead-letter queue".into(),
                message: format!(
                    "{depth} message(s) in the dead-letter queue. Inspect with `orderflow dlq list`, fix the cause, \
                     then `orderflow dlq redrive`. (episode {episode})"
                ),
                raised_at: Utc::now(),
            })
            .await
    }

    async fn recovery(&self, episode: u64) -> PortResult<()> {
        self.services
            .notifier
            .raise_alarm(&Alarm {
                alarm_id: format!("dlq-episode-{episode}-recovered"),
                subject: "Orderflow: dead-letter queue is empty again".into(),
                message: format!(
                    "The dead-letter queue is empty again (episode {episode} is over)."
                ),
                raised_at: Utc::now(),
            })
            .await
    }

    /// Checks every poll interval, and at once when the worker reports growth.
    pub async fn run_until_stopped(self: Arc<Self>, shutdown: CancellationToken) {
        let mut grew = false;
        loop {
            match self.check(grew).await {
                Ok(step) => {
                    grew = false;
                    if step != AlarmStep::Quiet {
                        tracing::info!(?step, "dead-letter queue alarm");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "checking the dead-letter queue failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.poll) => {}
                _ = self.grew.notified() => grew = true,
            }
        }
    }
}

/// One line of `orderflow dlq list`.
pub fn describe(d: &DeadLetter) -> String {
    let order = serde_json::from_str::<OrderMessage>(&d.body)
        .ok()
        .and_then(|m| OrderId::parse(&m.order_id).ok())
        .map(|id| id.to_string())
        .unwrap_or_else(|| "(undecodable)".into());
    let reason = d
        .reason
        .as_deref()
        .unwrap_or("retries exhausted (see the worker log for this order)");
    format!(
        "{:<40} {:<36} {:>8}  {}",
        d.message_id, order, d.receive_count, reason
    )
}

/// Prints up to `max` dead-lettered messages.
pub async fn list(services: &Services, max: usize) -> PortResult<Vec<DeadLetter>> {
    let mut seen = Vec::new();
    // SQS returns at most 10 per look; look until nothing new arrives or `max` is reached.
    for _ in 0..max.div_ceil(10).max(1) * 3 {
        let batch = services.queue.peek_dead_letters(max.min(10)).await?;
        let mut fresh = 0;
        for d in batch {
            if seen.len() < max
                && !seen
                    .iter()
                    .any(|s: &DeadLetter| s.message_id == d.message_id)
            {
                seen.push(d);
                fresh += 1;
            }
        }
        if fresh == 0 || seen.len() >= max {
            break;
        }
    }
    Ok(seen)
}

/// Heading for [`describe`] lines.
pub const LIST_HEADER: &str = "MESSAGE ID                               ORDER ID                             RECEIVES  REASON";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_messages() {
        let id = OrderId::generate();
        let line = describe(&DeadLetter {
            message_id: "m1".into(),
            body: format!("{{\"orderId\":\"{id}\"}}"),
            receive_count: 5,
            reason: None,
        });
        assert!(
            line.contains(id.as_str()) && line.contains("retries exhausted"),
            "{line}"
        );
        // A reason unlike the order column's "(undecodable)" (the body is not an order), so
        // finding it proves the reason column is printed.
        let poison = describe(&DeadLetter {
            message_id: "m2".into(),
            body: "garbage".into(),
            receive_count: 1,
            reason: Some("bad json at line 1".into()),
        });
        assert!(poison.starts_with("m2 "), "{poison}");
        assert!(poison.contains(" (undecodable) "), "{poison}");
        assert!(
            poison.ends_with("  bad json at line 1"),
            "the reason, last: {poison}"
        );
    }

    #[test]
    fn episodes_keep_their_text_form() {
        let open = Episode {
            open: true,
            number: 3,
        };
        assert_eq!(open.encode(), "open:3");
        assert_eq!(Episode::decode("open:3"), Some(open));
        assert_eq!(
            Episode::decode("closed:12"),
            Some(Episode {
                open: false,
                number: 12
            })
        );
        for foreign in ["", "open", "half:3", "open:x", "{\"o\":{}}"] {
            assert_eq!(Episode::decode(foreign), None, "{foreign}");
        }
    }
}

/// `orderflow dlq …`: the operator commands.
#[derive(Debug, clap::Subcommand)]
pub enum DlqAction {
    /// List dead-lettered messages: message id, order id, receive count, reason.
    List {
        #[arg(long, default_value_t = 50)]
        max: usize,
    },
    /// Move dead-lettered messages back to the order queue.
    Redrive {
        #[arg(long, default_value_t = 1000)]
        max: usize,
        /// Only show what would move.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs an operator command, printing what it found or moved.
pub async fn command(services: &Services, action: DlqAction) -> anyhow::Result<()> {
    match action {
        DlqAction::List { max } => {
            let dead = list(services, max).await?;
            println!("{}", LIST_HEADER);
            for d in &dead {
                println!("{}", describe(d));
            }
            eprintln!("{} message(s) in the dead-letter queue", dead.len());
        }
        DlqAction::Redrive { max, dry_run: true } => {
            let dead = list(services, max).await?;
            for d in &dead {
                println!("{}", describe(d));
            }
            eprintln!(
                "dry run: {} message(s) would move back to the order queue",
                dead.len()
            );
        }
        DlqAction::Redrive {
            max,
            dry_run: false,
        } => {
            let moved = services.queue.redrive(max).await?;
            eprintln!("moved {moved} message(s) back to the order queue");
        }
    }
    Ok(())
}
