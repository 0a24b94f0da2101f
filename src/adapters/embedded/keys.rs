//! The embedded key ring: `data.key` (64 hex digits, mode 0600) beside the databases,
//! created at first start.

use crate::ports::{DataKey, KeyRing, PortResult};
use anyhow::Context;
use async_trait::async_trait;
use std::io::Write;
use std::path::Path;

pub struct FileKeyRing {
    key: DataKey,
}

impl FileKeyRing {
    /// Reads `dir/data.key`, creating it first when it does not exist. Two processes starting
    /// at once agree: each writes a candidate and links it into place, and the one that loses
    /// reads the winner's.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join("data.key");
        if !path.exists() {
            let tmp = dir.join(format!("data.key.{}", uuid::Uuid::new_v4().simple()));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options
                .open(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            f.write_all(DataKey::generate().to_hex().as_bytes())?;
            f.sync_all()?;
            let linked = std::fs::hard_link(&tmp, &path);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Ok(()) => tracing::info!(path = %path.display(), "created the data key"),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let key = DataKey::from_hex(&text).with_context(|| {
            format!(
                "{} is not 64 hex digits: restore it from a backup (the idempotency records and order links depend on it)",
                path.display()
            )
        })?;
        Ok(FileKeyRing { key })
    }
}

#[async_trait]
impl KeyRing for FileKeyRing {
    async fn data_key(&self) -> PortResult<DataKey> {
        Ok(self.key.clone())
    }
}
