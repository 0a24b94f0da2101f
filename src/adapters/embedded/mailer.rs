//! Embedded mailer: writes each message as `{data_dir}/mail/{orderId}-{kind}.eml`, once.

use super::files::DurableDir;
use crate::domain::mail::MailMessage;
use crate::ports::{Mailer, PortError, PortResult};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;

pub struct EmlMailer {
    dir: Arc<DurableDir>,
}

impl EmlMailer {
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        Ok(EmlMailer {
            dir: Arc::new(DurableDir::open(data_dir.join("mail"))?),
        })
    }
}

#[async_trait]
impl Mailer for EmlMailer {
    async fn send(&self, message: &MailMessage) -> PortResult<()> {
        let name: String = message
            .key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let file = format!("{name}.eml");
        let mime = message.to_mime(chrono::Utc::now());
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || dir.write(&file, mime.as_bytes(), true))
        .await
        .map_err(|e| PortError::Unexpected(anyhow::anyhow!("mail task: {e}")))?
        .map(|written| {
            if written {
                // The key names the order and the kind; the address is the customer's (PII).
                tracing::info!(key = %message.key, "customer e-mail written to the mail folder");
            }
        })
        .map_err(|e| PortError::Unavailable(e.to_string()))
    }
}
