//! Match items in the commerce table (`MATCH#<match_id>` / `M`), and a match side's points:
//! the `TOTAL` item of each shard of the side's board (`BOARD#<board>#<shard>` / `TOTAL`),
//! added to with the board's entries in the same transaction. A total has no `board` attribute,
//! so the boards index never ranks it.

use aws_sdk_dynamodb::types::{
    ReturnValuesOnConditionCheckFailure as OnFail, TransactWriteItem, Update,
};

use super::attrs::{get_n, get_s, key, n, opt_n, opt_s, s, Item};
use super::transaction::{put_new, Role, Tx};
use super::{sdk_error, Store, StoreError};
use crate::domain::matches::Match;
use crate::domain::settlement::Board;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

const MATCH_SK: &str = "M";
const TOTAL_SK: &str = "TOTAL";

fn match_key(match_id: &str) -> Item {
    key(format!("MATCH#{match_id}"), MATCH_SK)
}

impl Store {
    pub fn add_new_match(&self, tx: &mut Tx, m: &Match) {
        let mut item = match_key(&m.match_id);
        let [(stream_a, creator_a), (stream_b, creator_b)] = &m.sides;
        item.extend([
            ("match_id".to_owned(), s(&m.match_id)),
            ("stream_a".to_owned(), s(stream_a)),
            ("creator_a".to_owned(), s(creator_a)),
            ("stream_b".to_owned(), s(stream_b)),
            ("creator_b".to_owned(), s(creator_b)),
            ("duration_seconds".to_owned(), n(m.duration_seconds)),
            ("invited_at".to_owned(), s(&m.invited_at)),
        ]);
        tx.push(
            Role::Match(m.match_id.clone()),
            put_new(&self.tables.commerce, item),
        );
    }

    /// Opens the accepted match's window; fails (with the old item) if it was accepted already.
    pub fn add_match_accepted(&self, tx: &mut Tx, m: &Match) {
        let update = Update::builder()
            .table_name(&self.tables.commerce)
            .set_key(Some(match_key(&m.match_id)))
            .update_expression("SET starts_at = :starts, ends_at = :ends")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(starts_at)")
            .expression_attribute_values(":starts", s(m.starts_at.as_deref().unwrap_or_default()))
            .expression_attribute_values(":ends", s(m.ends_at.as_deref().unwrap_or_default()))
            .return_values_on_condition_check_failure(OnFail::AllOld)
            .build()
            .expect("table, key and expression are set");
        tx.push(
            Role::Match(m.match_id.clone()),
            TransactWriteItem::builder().update(update).build(),
        );
    }

    pub async fn find_match(&self, match_id: &str) -> Result<Option<Match>, StoreError> {
        let item = self
            .get_item(&self.tables.commerce, match_key(match_id))
            .await?;
        item.as_ref().map(match_from_item).transpose()
    }

    /// Records the final points, once, and answers the recorded ones: a second writer finds
    /// the first's there and changes nothing.
    pub async fn record_final(
        &self,
        match_id: &str,
        points: [u64; 2],
    ) -> Result<[u64; 2], StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.commerce)
            .set_key(Some(match_key(match_id)))
            .update_expression("SET final_a = :a, final_b = :b")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(final_a)")
            .expression_attribute_values(":a", n(points[0]))
            .expression_attribute_values(":b", n(points[1]))
            .return_values_on_condition_check_failure(OnFail::AllOld)
            .send()
            .await;
        let recorded = match result {
            Ok(_) => return Ok(points),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    failed.item.clone()
                }
                _ => return Err(sdk_error("UpdateItem", e)),
            },
        };
        recorded
            .as_ref()
            .map(match_from_item)
            .transpose()?
            .and_then(|m| m.final_points)
            .ok_or_else(|| StoreError::Corrupt(format!("match {match_id} has no final points")))
    }

    /// Adds `coins` to one shard's total of `board`.
    pub fn add_board_total(&self, tx: &mut Tx, board: &Board, shard: u32, coins: u64) {
        let shard_key = board.shard_key(shard);
        let update = Update::builder()
            .table_name(&self.tables.commerce)
            .set_key(Some(key(format!("BOARD#{shard_key}"), TOTAL_SK)))
            .update_expression("ADD points :coins")
            .expression_attribute_values(":coins", n(coins))
            .build()
            .expect("table, key and expression are set");
        tx.push(
            Role::Board(board.key(), format!("{TOTAL_SK}#{shard:02}")),
            TransactWriteItem::builder().update(update).build(),
        );
    }

    /// The sum of `board`'s shard totals.
    pub async fn board_total(&self, board: &Board) -> Result<u64, StoreError> {
        let keys = board
            .shard_keys()
            .into_iter()
            .map(|shard_key| key(format!("BOARD#{shard_key}"), TOTAL_SK))
            .collect();
        let items = self.batch_get(&self.tables.commerce, keys).await?;
        items.iter().map(|i| get_n::<u64>(i, "points")).sum()
    }
}

fn match_from_item(item: &Item) -> Result<Match, StoreError> {
    let finals = (opt_n(item, "final_a")?, opt_n(item, "final_b")?);
    Ok(Match {
        match_id: get_s(item, "match_id")?.to_owned(),
        sides: [
            (
                get_s(item, "stream_a")?.to_owned(),
                get_s(item, "creator_a")?.to_owned(),
            ),
            (
                get_s(item, "stream_b")?.to_owned(),
                get_s(item, "creator_b")?.to_owned(),
            ),
        ],
        duration_seconds: get_n(item, "duration_seconds")?,
        invited_at: get_s(item, "invited_at")?.to_owned(),
        starts_at: opt_s(item, "starts_at"),
        ends_at: opt_s(item, "ends_at"),
        final_points: match finals {
            (Some(a), Some(b)) => Some([a, b]),
            _ => None,
        },
    })
}
