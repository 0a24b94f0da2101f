//! Embedded mailer: writes each message as `{data_dir}/mail/{orderId}-{kind}.eml`, once.

use crate::domain::mail::MailMessage;
use crate::ports::{Mailer, PortError, PortResult};
use async_trait::async_trait;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct EmlMailer {
    dir: PathBuf,
}

impl EmlMailer {
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let dir = data_dir.join("mail");
        std::fs::create_dir_all(&dir)?;
        Ok(EmlMailer { dir })
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
        let path = self.dir.join(format!("{name}.eml"));
        let mime = message.to_mime(chrono::Utc::now());
        let to = message.to.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<bool> {
            if path.exists() {
                return Ok(false);
            }
            let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(mime.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            Ok(true)
        })
        .await
        .map_err(|e| PortError::Unexpected(anyhow::anyhow!("mail task: {e}")))?
        .map(|written| {
            if written {
                tracing::info!(to = %to, key = %message.key, "customer e-mail written to the mail folder");
            }
        })
        .map_err(|e| PortError::Unavailable(e.to_string()))
    }
}
