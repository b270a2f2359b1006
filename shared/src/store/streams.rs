//! Stream items in the commerce table.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    ConditionCheck, ReturnValuesOnConditionCheckFailure as OnFail, TransactWriteItem, Update,
};

use super::attrs::{get_s, key, opt_s, s, Item};
use super::transaction::{put_new, Role, Tx};
use super::{Store, StoreError};
use crate::domain::streams::{Stream, StreamStatus};

const STREAM_SK: &str = "S";

fn stream_key(stream_id: &str) -> Item {
    key(format!("STREAM#{stream_id}"), STREAM_SK)
}

impl Store {
    pub async fn stream(&self, stream_id: &str) -> Result<Option<Stream>, StoreError> {
        let item = self
            .get_item(&self.tables.commerce, stream_key(stream_id))
            .await?;
        item.as_ref().map(stream_from_item).transpose()
    }

    pub fn add_new_stream(&self, tx: &mut Tx, stream: &Stream) {
        let mut item = stream_key(&stream.stream_id);
        item.extend([
            ("stream_id".to_owned(), s(&stream.stream_id)),
            ("creator_id".to_owned(), s(&stream.creator_id)),
            ("title".to_owned(), s(&stream.title)),
            ("status".to_owned(), s(stream.status.as_str())),
            ("started_at".to_owned(), s(&stream.started_at)),
        ]);
        tx.push(Role::Stream, put_new(&self.tables.commerce, item));
    }

    /// Ends a live stream of `creator_id`; fails (with the old item) otherwise.
    pub fn add_end_stream(&self, tx: &mut Tx, stream_id: &str, creator_id: &str, ended_at: &str) {
        let update = Update::builder()
            .table_name(&self.tables.commerce)
            .set_key(Some(stream_key(stream_id)))
            .update_expression("SET #status = :ended, ended_at = :at")
            .condition_expression("creator_id = :creator AND #status = :live")
            .expression_attribute_names("#status", "status")
            .set_expression_attribute_values(Some(HashMap::from([
                (":ended".to_owned(), s(StreamStatus::Ended.as_str())),
                (":live".to_owned(), s(StreamStatus::Live.as_str())),
                (":creator".to_owned(), s(creator_id)),
                (":at".to_owned(), s(ended_at)),
            ])))
            .return_values_on_condition_check_failure(OnFail::AllOld)
            .build()
            .expect("table, key and expression are set");
        tx.push(
            Role::Stream,
            TransactWriteItem::builder().update(update).build(),
        );
    }

    /// The gift path's stream check: the stream exists, is `creator_id`'s, and is live.
    pub(crate) fn add_stream_live_check(&self, tx: &mut Tx, stream_id: &str, creator_id: &str) {
        self.add_stream_check(tx, stream_id, creator_id, true);
    }

    /// The shop's stream check: the stream an order names exists and is `creator_id`'s (a buyer
    /// may finish checking out after the stream ended).
    pub(crate) fn add_stream_exists_check(&self, tx: &mut Tx, stream_id: &str, creator_id: &str) {
        self.add_stream_check(tx, stream_id, creator_id, false);
    }

    fn add_stream_check(&self, tx: &mut Tx, stream_id: &str, creator_id: &str, live: bool) {
        let mut values = HashMap::from([(":creator".to_owned(), s(creator_id))]);
        let mut check = ConditionCheck::builder()
            .table_name(&self.tables.commerce)
            .set_key(Some(stream_key(stream_id)))
            .return_values_on_condition_check_failure(OnFail::AllOld);
        check = if live {
            values.insert(":live".to_owned(), s(StreamStatus::Live.as_str()));
            check
                .condition_expression("creator_id = :creator AND #status = :live")
                .expression_attribute_names("#status", "status")
        } else {
            check.condition_expression("creator_id = :creator")
        };
        let check = check
            .set_expression_attribute_values(Some(values))
            .build()
            .expect("table, key and condition are set");
        tx.push(
            Role::Stream,
            TransactWriteItem::builder().condition_check(check).build(),
        );
    }
}

pub fn stream_from_item(item: &Item) -> Result<Stream, StoreError> {
    let status = get_s(item, "status")?;
    Ok(Stream {
        stream_id: get_s(item, "stream_id")?.to_owned(),
        creator_id: get_s(item, "creator_id")?.to_owned(),
        title: get_s(item, "title")?.to_owned(),
        status: StreamStatus::parse(status)
            .ok_or_else(|| StoreError::Corrupt(format!("stream status {status}")))?,
        started_at: get_s(item, "started_at")?.to_owned(),
        ended_at: opt_s(item, "ended_at"),
    })
}
