//! Agencies and creators' attachments to them, in the ledger table (they decide where money
//! goes): `AGENCY#<agency>` / `G` the agency; `AGENCYOWNER#<owner>` / `G` the agency a user owns
//! (one each); `AGENCYOF#<creator>` / `G` the creator's stints, written over their `version`;
//! `AGENCY#<agency>` / `M#<creator>` each creator ever attached to the agency, whose share
//! accounts (`AccountId::agency_share`) its balance sums.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use super::attrs::{get_n, get_s, key, n, opt_s, s, Item};
use super::ledger::{account_pk, version_condition, ACCOUNT_SK};
use super::transaction::{put_new, Role, Tx};
use super::{sdk_error, Store, StoreError};
use crate::domain::agencies::{Agency, Attachments, Funding, Stint};
use crate::domain::ledger::{AccountId, AccountKind};

const SK: &str = "G";
const MEMBER_PREFIX: &str = "M#";
/// Keys one `BatchGetItem` may ask for.
const BATCH_GET_KEYS: usize = 100;

fn agency_key(agency_id: &str) -> Item {
    key(format!("AGENCY#{agency_id}"), SK)
}

fn owner_key(owner_id: &str) -> Item {
    key(format!("AGENCYOWNER#{owner_id}"), SK)
}

pub(crate) const ATTACHMENTS_PREFIX: &str = "AGENCYOF#";

fn attachments_key(creator_id: &str) -> Item {
    key(format!("{ATTACHMENTS_PREFIX}{creator_id}"), SK)
}

impl Store {
    /// The agency and its owner's marker, both new: an owner owns one agency.
    pub fn add_agency(&self, tx: &mut Tx, agency: &Agency, at: &str) {
        let mut item = agency_key(&agency.agency_id);
        item.extend([
            ("agency_id".to_owned(), s(&agency.agency_id)),
            ("name".to_owned(), s(&agency.name)),
            ("owner_id".to_owned(), s(&agency.owner_id)),
            ("created_at".to_owned(), s(at)),
        ]);
        tx.push(
            Role::Agency(agency.agency_id.clone()),
            put_new(&self.tables.ledger, item),
        );
        let mut owner = owner_key(&agency.owner_id);
        owner.insert("agency_id".to_owned(), s(&agency.agency_id));
        tx.push(
            Role::AgencyOwner(agency.owner_id.clone()),
            put_new(&self.tables.ledger, owner),
        );
    }

    pub async fn agency(&self, agency_id: &str) -> Result<Option<Agency>, StoreError> {
        self.get_item(&self.tables.ledger, agency_key(agency_id))
            .await?
            .map(|item| {
                Ok(Agency {
                    agency_id: get_s(&item, "agency_id")?.to_owned(),
                    name: get_s(&item, "name")?.to_owned(),
                    owner_id: get_s(&item, "owner_id")?.to_owned(),
                })
            })
            .transpose()
    }

    /// The agency `owner_id` owns, if any.
    pub async fn agency_owned_by(&self, owner_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get_item(&self.tables.ledger, owner_key(owner_id))
            .await?
            .and_then(|item| opt_s(&item, "agency_id")))
    }

    /// Records that `creator_id` is (or was) the agency's: written with every attachment, never
    /// removed, since a detached creator's share accounts may still hold the agency's money.
    pub fn add_agency_member(&self, tx: &mut Tx, agency_id: &str, creator_id: &str) {
        let mut item = key(
            format!("AGENCY#{agency_id}"),
            &format!("{MEMBER_PREFIX}{creator_id}"),
        );
        item.insert("creator_id".to_owned(), s(creator_id));
        let put = Put::builder()
            .table_name(&self.tables.ledger)
            .set_item(Some(item))
            .build()
            .expect("table and item are set");
        tx.push(
            Role::AgencyMember(agency_id.to_owned(), creator_id.to_owned()),
            TransactWriteItem::builder().put(put).build(),
        );
    }

    /// Every creator ever attached to the agency.
    pub async fn agency_members(&self, agency_id: &str) -> Result<Vec<String>, StoreError> {
        let mut members = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.tables.ledger)
                .key_condition_expression("pk = :pk AND begins_with(sk, :m)")
                .expression_attribute_values(":pk", s(format!("AGENCY#{agency_id}")))
                .expression_attribute_values(":m", s(MEMBER_PREFIX))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            for item in out.items() {
                members.push(get_s(item, "creator_id")?.to_owned());
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(members);
            }
        }
    }

    /// The sums of the agency's share accounts of each of `kinds` over all its creators: its
    /// balances kept per creator (pending diamonds, pending cents), from one read of its
    /// creators and a hundred accounts per call.
    pub async fn agency_shares_balances<const N: usize>(
        &self,
        agency_id: &str,
        kinds: [AccountKind; N],
    ) -> Result<[i64; N], StoreError> {
        let members = self.agency_members(agency_id).await?;
        let accounts: Vec<AccountId> = members
            .iter()
            .flat_map(|creator| kinds.map(|kind| AccountId::agency_share(kind, agency_id, creator)))
            .collect();
        let mut totals = [0i64; N];
        for part in accounts.chunks(BATCH_GET_KEYS) {
            let keys = part
                .iter()
                .map(|account| key(account_pk(account), ACCOUNT_SK))
                .collect();
            for item in self.batch_get(&self.tables.ledger, keys).await? {
                let id = get_s(&item, "account_id")?;
                let kind = AccountId::parse(id).map(|a| a.kind);
                let slot = kinds
                    .iter()
                    .position(|k| Some(*k) == kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("share account {id}")))?;
                totals[slot] = totals[slot].saturating_add(get_n::<i64>(&item, "balance")?);
            }
        }
        Ok(totals)
    }

    /// A creator's stints as stored now (strongly consistent: a change committed before an
    /// earning was stamped is always seen by its settlement).
    pub async fn attachments(&self, creator_id: &str) -> Result<Attachments, StoreError> {
        match self
            .get_item(&self.tables.ledger, attachments_key(creator_id))
            .await?
        {
            Some(item) => attachments_from_item(&item),
            None => Ok(Attachments::default()),
        }
    }

    /// Writes a creator's stints over the version they were read at.
    /// `admin_id` is who changed them last.
    pub fn add_attachments(
        &self,
        tx: &mut Tx,
        creator_id: &str,
        a: &Attachments,
        admin_id: &str,
        at: &str,
    ) {
        let mut item = attachments_key(creator_id);
        let stints = a.stints.iter().map(stint_item).collect();
        item.extend([
            ("creator_id".to_owned(), s(creator_id)),
            ("stints".to_owned(), AttributeValue::L(stints)),
            ("version".to_owned(), n(a.version + 1)),
            ("updated_at".to_owned(), s(at)),
            ("admin_id".to_owned(), s(admin_id)),
        ]);
        let mut values = HashMap::new();
        let condition = version_condition(a.version, &mut values);
        let put = Put::builder()
            .table_name(&self.tables.ledger)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
            )
            .build()
            .expect("table, item and condition are set");
        tx.push(
            Role::Attachments(creator_id.to_owned()),
            TransactWriteItem::builder().put(put).build(),
        );
    }
}

fn stint_item(st: &Stint) -> AttributeValue {
    let mut m = HashMap::from([
        ("agency_id".to_owned(), s(&st.agency_id)),
        ("share_bps".to_owned(), n(st.share_bps)),
        ("funded_by".to_owned(), s(st.funded_by.as_str())),
        ("since".to_owned(), s(&st.since)),
    ]);
    if let Some(until) = &st.until {
        m.insert("until".to_owned(), s(until));
    }
    AttributeValue::M(m)
}

/// A creator's stored stints.
pub(crate) fn attachments_from_item(item: &Item) -> Result<Attachments, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("agency attachment: {what}"));
    let list = item
        .get("stints")
        .and_then(|v| v.as_l().ok())
        .ok_or_else(|| corrupt("stints"))?;
    let stints = list
        .iter()
        .map(|v| {
            let m = v.as_m().map_err(|_| corrupt("stint"))?;
            let funded_by = get_s(m, "funded_by")?;
            Ok(Stint {
                agency_id: get_s(m, "agency_id")?.to_owned(),
                share_bps: get_n(m, "share_bps")?,
                funded_by: Funding::parse(funded_by).ok_or_else(|| corrupt(funded_by))?,
                since: get_s(m, "since")?.to_owned(),
                until: opt_s(m, "until"),
            })
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(Attachments {
        stints,
        version: get_n(item, "version")?,
    })
}
