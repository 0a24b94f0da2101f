//! The coordination port: small named records the instances of a fleet agree through (the
//! reconciler's lease, the DLQ alarm's episode, invoice holds, a recorded invoice payment),
//! each written only by compare-and-set on its version.
//!
//! Callers read and write typed values ([`RecordValue`]) with `read` and `write` on
//! `dyn Coordination`; the adapters keep only the encoded text.

use super::PortResult;
use async_trait::async_trait;

/// # Contract
/// - `get_record` returns the record's value and version, or `None` if it was never written.
/// - `cas_record` writes `value` only if the record's version is still `expected` (`None`:
///   the record must not exist), bumping the version, and returns whether it wrote. Of many
///   instances racing from the same version exactly one wins: the DLQ alarm uses this to
///   raise one alarm per episode across a fleet.
#[async_trait]
pub trait Coordination: Send + Sync + 'static {
    async fn get_record(&self, name: &str) -> PortResult<Option<(String, u64)>>;
    async fn cas_record(&self, name: &str, expected: Option<u64>, value: &str) -> PortResult<bool>;
}

/// A value kept in a coordination record, with its text encoding (which instances of
/// different versions share during a rolling deploy, so it changes only compatibly).
pub trait RecordValue: Sized {
    fn encode(&self) -> String;
    /// `None` when the text is not a value of this type (it was written by something else).
    fn decode(text: &str) -> Option<Self>;
}

/// A value kept as JSON (for records only Orderflow writes, such as invoice holds).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

impl<T: serde::Serialize + serde::de::DeserializeOwned> RecordValue for Json<T> {
    fn encode(&self) -> String {
        // Plain data structures (strings, numbers, maps with string keys) always serialize.
        serde_json::to_string(&self.0).unwrap_or_default()
    }
    fn decode(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok().map(Json)
    }
}

/// A record as read: its value (`None` if it could not be decoded) and its version, the one a
/// compare-and-set must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: Option<T>,
    pub version: u64,
}

impl dyn Coordination {
    /// The record `name` as a `T`, or `None` if it was never written.
    pub async fn read<T: RecordValue>(&self, name: &str) -> PortResult<Option<Versioned<T>>> {
        Ok(self
            .get_record(name)
            .await?
            .map(|(text, version)| Versioned {
                value: T::decode(&text),
                version,
            }))
    }

    /// Writes `value` if the record is still at `expected` (`None`: not written yet); returns
    /// whether it wrote.
    pub async fn write<T: RecordValue>(
        &self,
        name: &str,
        expected: Option<u64>,
        value: &T,
    ) -> PortResult<bool> {
        self.cas_record(name, expected, &value.encode()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_round_trip_and_foreign_text_does_not_decode() {
        let v = Json(std::collections::BTreeMap::from([("a".to_owned(), 3u64)]));
        assert_eq!(Json::decode(&v.encode()), Some(v));
        assert_eq!(Json::<u64>::decode("open:3"), None);
    }
}
