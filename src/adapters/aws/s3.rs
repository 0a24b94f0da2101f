//! S3 receipt store: `receipts/{orderId}.pdf`, server-side encrypted. The API reads a
//! receipt with GetObject and serves the bytes itself (same origin as the storefront).

use super::sdk_err;
use crate::ports::{PortError, PortResult, ReceiptStore};
use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_sdk_s3::Client;

pub struct S3Receipts {
    client: Client,
    bucket: String,
}

impl S3Receipts {
    pub fn new(client: Client, bucket: String) -> Self {
        S3Receipts { client, bucket }
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
}
