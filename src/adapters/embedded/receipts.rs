//! Embedded receipt store: files under `{data_dir}/receipts/`, written atomically and
//! durably (see [`DurableDir`]).

use super::files::DurableDir;

use crate::ports::{PortError, PortResult, ReceiptStore};
use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct FileReceiptStore {
    dir: Arc<DurableDir>,
}

impl FileReceiptStore {
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        Ok(FileReceiptStore {
            dir: Arc::new(DurableDir::open(root.join("receipts"))?),
        })
    }

    /// Maps a key to a path, refusing anything but `receipts/<safe name>`.
    fn path(&self, key: &str) -> PortResult<PathBuf> {
        let name = crate::domain::receipt::receipt_key_name(key)
            .ok_or_else(|| PortError::Precondition(format!("invalid receipt key {key:?}")))?;
        Ok(self.dir.path(name))
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
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("receipt paths end in a checked name")
            .to_owned();
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || dir.write(&name, &bytes, false).map(|_| ()))
            .await
            .map_err(|e| PortError::Unexpected(anyhow::anyhow!("receipt write task: {e}")))?
            .map_err(io_err)
    }

    async fn exists(&self, key: &str) -> PortResult<bool> {
        let path = self.path(key)?;
        tokio::fs::try_exists(&path).await.map_err(io_err)
    }

    async fn get(&self, key: &str) -> PortResult<Vec<u8>> {
        let path = self.path(key)?;
        tokio::fs::read(&path).await.map_err(io_err)
    }
}
