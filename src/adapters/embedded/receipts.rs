//! Embedded receipt store: files under `{data_dir}/receipts/`, written atomically
//! (temporary file, fsync, rename, fsync of the directory).

use crate::ports::{PortError, PortResult, ReceiptLink, ReceiptStore};
use async_trait::async_trait;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct FileReceiptStore {
    root: PathBuf,
}

impl FileReceiptStore {
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root.join("receipts"))?;
        Ok(FileReceiptStore {
            root: root.to_owned(),
        })
    }

    /// Maps a key to a path, refusing anything but `receipts/<safe name>`.
    fn path(&self, key: &str) -> PortResult<PathBuf> {
        let name = crate::domain::receipt::receipt_key_name(key)
            .ok_or_else(|| PortError::Precondition(format!("invalid receipt key {key:?}")))?;
        Ok(self.root.join("receipts").join(name))
    }
}

fn io_err(e: std::io::Error) -> PortError {
    match e.kind() {
        std::io::ErrorKind::NotFound => PortError::NotFound(e.to_string()),
        _ => PortError::Unavailable(e.to_string()),
    }
}

#[async_trait]
impl ReceiptStore for FileReceiptStore {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> PortResult<()> {
        let path = self.path(key)?;
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let dir = path.parent().expect("receipt paths have a parent");
            let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(dir)?.sync_all()?;
            Ok(())
        })
        .await
        .map_err(|e| PortError::Unexpected(anyhow::anyhow!("receipt write task: {e}")))?
        .map_err(io_err)
    }

    async fn exists(&self, key: &str) -> PortResult<bool> {
        let path = self.path(key)?;
        tokio::fs::try_exists(&path).await.map_err(io_err)
    }

    async fn link(&self, key: &str) -> PortResult<ReceiptLink> {
        self.get(key).await.map(ReceiptLink::Inline)
    }

    async fn get(&self, key: &str) -> PortResult<Vec<u8>> {
        let path = self.path(key)?;
        tokio::fs::read(&path).await.map_err(io_err)
    }
}
