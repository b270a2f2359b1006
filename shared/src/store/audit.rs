//! The ledger audit's read side: one scan of the ledger and commerce tables into the plain
//! snapshot `domain::audit` checks. A scan reads every item, so this is for tests, the
//! simulation and an operator's occasional audit (docs/runbook.md), never a request path.

use aws_sdk_dynamodb::types::AttributeValue;

use super::agencies::{attachments_from_item, ATTACHMENTS_PREFIX};
use super::attrs::{get_n, get_s, opt_n, Item};
use super::chargebacks::{CHARGED_BACK_AGENCY_DIAMONDS, CHARGED_BACK_DIAMONDS};
use super::ledger::ACCOUNT_SK;
use super::orders::order_from_item;
use super::payouts::payout_from_item;
use super::refunds::refund_from_item;
use super::settlement::{gift_from_item, SETTLEMENT_REFUNDED, SETTLEMENT_SETTLED};
use super::{Store, StoreError};
use crate::domain::audit::{GiftState, LedgerSnapshot};
use crate::domain::ledger::{AccountId, AccountKind};

impl Store {
    pub async fn audit_snapshot(&self) -> Result<LedgerSnapshot, StoreError> {
        let mut snapshot = LedgerSnapshot::default();
        for item in self.scan_all(&self.tables.ledger).await? {
            let pk = get_s(&item, "pk")?;
            if pk.starts_with("PAYOUT#") {
                snapshot.payouts.push(payout_from_item(&item)?);
                continue;
            }
            if pk.starts_with("REFUNDS#") {
                snapshot.refunds.push(refund_from_item(&item)?);
                continue;
            }
            if let Some(creator_id) = pk.strip_prefix(ATTACHMENTS_PREFIX) {
                snapshot
                    .attachments
                    .insert(creator_id.to_owned(), attachments_from_item(&item)?);
                continue;
            }
            if get_s(&item, "sk")? != ACCOUNT_SK {
                continue;
            }
            let id = get_s(&item, "account_id")?;
            let account = AccountId::parse(id)
                .ok_or_else(|| StoreError::Corrupt(format!("account id {id}")))?;
            match account.kind {
                AccountKind::PendingGift => {
                    let state = match item.get("settlement") {
                        Some(AttributeValue::S(s)) if s == SETTLEMENT_SETTLED => {
                            GiftState::Settled {
                                charged_back_diamonds: opt_n(&item, CHARGED_BACK_DIAMONDS)?
                                    .unwrap_or(0),
                                charged_back_agency_diamonds: opt_n(
                                    &item,
                                    CHARGED_BACK_AGENCY_DIAMONDS,
                                )?
                                .unwrap_or(0),
                            }
                        }
                        Some(AttributeValue::S(s)) if s == SETTLEMENT_REFUNDED => {
                            GiftState::Refunded
                        }
                        _ => GiftState::Unsettled,
                    };
                    snapshot.gifts.push((gift_from_item(&item)?, state));
                }
                AccountKind::Order => snapshot.orders.push(order_from_item(&item)?),
                _ => {}
            }
            let unit = get_s(&item, "unit")?.to_owned();
            snapshot
                .accounts
                .push((account, unit, get_n(&item, "balance")?));
        }
        for item in self.scan_all(&self.tables.commerce).await? {
            // Every stock shard on its own: none may be negative.
            if let Some(shard) = get_s(&item, "pk")?.strip_prefix("STOCK#") {
                snapshot
                    .stock
                    .push((shard.to_owned(), get_n(&item, "units")?));
            }
        }
        Ok(snapshot)
    }

    async fn scan_all(&self, table: &str) -> Result<Vec<Item>, StoreError> {
        self.client
            .scan()
            .table_name(table)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| super::sdk_error("Scan", e))
    }
}
