//! Leaderboard entries in the commerce table: `BOARD#<board>#<shard>` / `U#<user>` holds one
//! gifter's settled coins on one board, in the shard [`board_shard`] gives the gifter. The `boards`
//! GSI (`board` = `<board>#<shard>` / `coins`) ranks each shard, so the top N is one query of at
//! most N items per shard, run side by side and merged, however many gifters a board has.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use super::attrs::{get_n, get_s, key, n, s, Item};
use super::transaction::{Role, Tx};
use super::{sdk_error, Store, StoreError};
use crate::domain::settlement::{board_shard, Board};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardEntry {
    pub user_id: String,
    pub coins: u64,
}

impl Store {
    /// Adds `coins` to `user_id`'s entry on `board`, creating it at zero.
    pub fn add_board_increment(&self, tx: &mut Tx, board: &Board, user_id: &str, coins: u64) {
        let shard_key = board.shard_key(board_shard(user_id));
        let update = Update::builder()
            .table_name(&self.tables.commerce)
            .set_key(Some(key(
                format!("BOARD#{shard_key}"),
                &format!("U#{user_id}"),
            )))
            .update_expression("SET board = :board, user_id = :user ADD coins :coins")
            .expression_attribute_values(":board", s(&shard_key))
            .expression_attribute_values(":user", s(user_id))
            .expression_attribute_values(":coins", n(coins))
            .build()
            .expect("table, key and expression are set");
        tx.push(
            Role::Board(board.key(), user_id.to_owned()),
            TransactWriteItem::builder().update(update).build(),
        );
    }

    /// The board's `limit` biggest gifters, biggest first (ties by user id).
    pub async fn board_top(
        &self,
        board: &Board,
        limit: u32,
    ) -> Result<Vec<BoardEntry>, StoreError> {
        let shards = board
            .shard_keys()
            .into_iter()
            .map(|shard_key| self.shard_top(shard_key, limit));
        let mut entries = futures::future::try_join_all(shards)
            .await?
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
        entries.sort_by(|a, b| {
            b.coins
                .cmp(&a.coins)
                .then_with(|| a.user_id.cmp(&b.user_id))
        });
        entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(entries)
    }

    async fn shard_top(
        &self,
        shard_key: String,
        limit: u32,
    ) -> Result<Vec<BoardEntry>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.commerce)
            .index_name(&self.tables.commerce_boards_index)
            .key_condition_expression("board = :board")
            .expression_attribute_values(":board", s(shard_key))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        out.items.unwrap_or_default().iter().map(entry).collect()
    }
}

fn entry(item: &Item) -> Result<BoardEntry, StoreError> {
    Ok(BoardEntry {
        user_id: get_s(item, "user_id")?.to_owned(),
        coins: get_n(item, "coins")?,
    })
}
