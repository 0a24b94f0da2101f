//! S3 receipt store: `receipts/{orderId}.pdf`, server-side encrypted; clients get a
//! short-lived presigned GET URL.

use super::sdk_err;
use crate::ports::{PortError, PortResult, ReceiptLink, ReceiptStore};
use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;
use std::time::Duration;

pub struct S3Receipts {
    client: Client,
    bucket: String,
    presign: Duration,
}

impl S3Receipts {
    pub fn new(client: Client, bucket: String, presign: Duration) -> Self {
        S3Receipts {
            client,
            bucket,
            presign,
        }
    }
}

fn check_key(key: &str) -> PortResult<()> {
    match crate::domain::receipt::receipt_key_name(key) {
        Some(_) => Ok(()),
        None => Err(PortError::Precondition(format!(
            "invalid receipt key {key:?}"
        ))),
    }
}

#[async_trait]
impl ReceiptStore for S3Receipts {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> PortResult<()> {
        check_key(key)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/pdf")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| sdk_err("s3 PutObject", e))?;
        Ok(())
    }

    async fn exists(&self, key: &str) -> PortResult<bool> {
        check_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
            Err(e) => Err(sdk_err("s3 HeadObject", e)),
        }
    }

    async fn get(&self, key: &str) -> PortResult<Vec<u8>> {
        check_key(key)?;
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Err(PortError::NotFound(key.to_owned()))
            }
            Err(e) => return Err(sdk_err("s3 GetObject", e)),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| PortError::Unavailable(format!("s3 GetObject body: {e}")))?;
        Ok(bytes.into_bytes().to_vec())
    }

    async fn link(&self, key: &str) -> PortResult<ReceiptLink> {
        if !self.exists(key).await? {
            return Err(PortError::NotFound(key.to_owned()));
        }
        let config = PresigningConfig::expires_in(self.presign)
            .map_err(|e| PortError::Unexpected(e.into()))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(format!(
                "inline; filename=\"{}\"",
                key.trim_start_matches("receipts/").replace(".pdf", "") + "-receipt.pdf"
            ))
            .presigned(config)
            .await
            .map_err(|e| sdk_err("s3 presign GetObject", e))?;
        Ok(ReceiptLink::Redirect(req.uri().to_owned()))
    }
}
