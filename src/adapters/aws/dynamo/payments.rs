//! The simulated payment gateway's charge ledger in the DynamoDB state table: one
//! create-only `charge#<key>` item per idempotency key, so a key is charged at most once.

use super::super::{now_ms, sdk_err};
use super::item::{get_s, get_state, n, s, ConditionFailed, Item};
use crate::domain::{CardNumber, PaymentMethod};
use crate::ports::{ChargeOutcome, ChargeRequest, PaymentGateway, PortError, PortResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use aws_sdk_dynamodb::Client;

fn charge_pk(idempotency_key: &str) -> String {
    format!("charge#{idempotency_key}")
}

/// The simulated payment gateway with its charge ledger in the state table.
pub struct DynamoGateway {
    client: Client,
    state: String,
}

impl DynamoGateway {
    pub fn new(client: Client, state: String) -> Self {
        DynamoGateway { client, state }
    }

    fn outcome_of(item: &Item) -> ChargeOutcome {
        if get_s(item, "outcome") == Some("approved") {
            ChargeOutcome::Approved {
                charge_id: get_s(item, "chargeId").unwrap_or_default().to_owned(),
            }
        } else {
            ChargeOutcome::Declined {
                code: get_s(item, "declineCode").unwrap_or_default().to_owned(),
            }
        }
    }
}

#[async_trait]
impl PaymentGateway for DynamoGateway {
    async fn tokenize(&self, card: &CardNumber) -> PortResult<PaymentMethod> {
        Ok(crate::adapters::simulated::tokenize(card))
    }

    async fn charge(&self, req: &ChargeRequest) -> PortResult<ChargeOutcome> {
        let outcome = crate::adapters::simulated::decide(req.payment_token.as_deref());
        let mut put = self
            .client
            .put_item()
            .table_name(&self.state)
            .item("pk", s(charge_pk(&req.idempotency_key)))
            .item("amount", n(req.amount.amount))
            .item("currency", s(req.amount.currency.as_str()))
            .item("at", n(now_ms()))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        put = match &outcome {
            ChargeOutcome::Approved { charge_id } => put
                .item("outcome", s("approved"))
                .item("chargeId", s(charge_id)),
            ChargeOutcome::Declined { code } => put
                .item("outcome", s("declined"))
                .item("declineCode", s(code)),
        };
        match put.send().await {
            Ok(_) => Ok(outcome),
            Err(e) if e.condition_failed() => {
                let old = match e.into_service_error() {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item,
                    _ => None,
                };
                let item = match old {
                    Some(i) => i,
                    None => get_state(&self.client, &self.state, &charge_pk(&req.idempotency_key))
                        .await?
                        .ok_or_else(|| PortError::Unavailable("charge record vanished".into()))?,
                };
                Ok(Self::outcome_of(&item))
            }
            Err(e) => Err(sdk_err("dynamodb PutItem (charge)", e)),
        }
    }

    async fn charges_for(&self, idempotency_key: &str) -> PortResult<u32> {
        let item = get_state(&self.client, &self.state, &charge_pk(idempotency_key)).await?;
        Ok(u32::from(
            item.as_ref()
                .is_some_and(|i| get_s(i, "outcome") == Some("approved")),
        ))
    }
}
