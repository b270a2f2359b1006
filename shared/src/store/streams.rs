//! Stream items in the commerce table.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    ReturnValuesOnConditionCheckFailure as OnFail, TransactWriteItem, Update,
};
use time::{Duration, OffsetDateTime};

use super::attrs::{get_s, key, opt_s, s, Item};
use super::transaction::{put_new, Role, Tx};
use super::{Store, StoreError};
use crate::domain::streams::{Stream, StreamStatus};

const STREAM_SK: &str = "S";

/// Streams remembered per warm container, with when they were read (`Store::recent_stream`).
pub(crate) type Snapshots = super::snapshots::Snapshots<(Stream, OffsetDateTime)>;

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

    /// The stream as this container read it at most `max_age` ago, else as stored now (a plain
    /// read: reads never conflict with the transactions writing the stream). A stream that does
    /// not exist is not remembered: it may be created the next moment.
    pub async fn recent_stream(
        &self,
        stream_id: &str,
        now: OffsetDateTime,
        max_age: Duration,
    ) -> Result<Option<Stream>, StoreError> {
        if let Some((stream, read_at)) = self.stream_snapshots.get(stream_id) {
            if read_at <= now && now - read_at <= max_age {
                return Ok(Some(stream));
            }
        }
        let stream = self.stream(stream_id).await?;
        if let Some(stream) = &stream {
            self.stream_snapshots.put(stream_id, (stream.clone(), now));
        }
        Ok(stream)
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
