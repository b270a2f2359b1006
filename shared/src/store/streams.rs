//! Stream items in the commerce table.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    ReturnValuesOnConditionCheckFailure as OnFail, TransactWriteItem, Update,
};
use time::{Duration, OffsetDateTime};

use aws_sdk_dynamodb::types::AttributeValue;

use super::attrs::{get_s, key, n, opt_n, opt_s, s, Item};
use super::transaction::{put_new, Role, Tx};
use super::{Store, StoreError};
use crate::domain::matches::{StreamMatch, StreamMatches};
use crate::domain::rooms::Room;
use crate::domain::streams::{Stream, StreamStatus};

const STREAM_SK: &str = "S";

/// What a host's change writes of a stream, each part over its own version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamPart {
    Room,
    Matches,
}

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
        tx.push(
            Role::Stream(stream.stream_id.clone()),
            put_new(&self.tables.commerce, item),
        );
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
            Role::Stream(stream_id.to_owned()),
            TransactWriteItem::builder().update(update).build(),
        );
    }

    /// Writes `part` of `stream` as changed from `from_version`; fails (with the old item) if
    /// that part changed since, or the stream is not `creator_id`'s, or (`live_only`) has ended.
    pub fn add_stream_change(
        &self,
        tx: &mut Tx,
        stream: &Stream,
        part: StreamPart,
        from_version: u64,
        live_only: bool,
    ) {
        let (version_name, version, set) = match part {
            StreamPart::Room => (
                "room_version",
                stream.room.version,
                vec![
                    ("guests", times(&stream.room.guests)),
                    ("left_guests", times(&stream.room.left)),
                ],
            ),
            StreamPart::Matches => (
                "match_version",
                stream.matches.version,
                vec![("matches", matches_value(&stream.matches))],
            ),
        };
        // A stream from before rooms and matches has no versions: each part is at version 0.
        let mut condition = match from_version {
            0 => format!("creator_id = :creator AND attribute_not_exists({version_name})"),
            _ => format!("creator_id = :creator AND {version_name} = :from"),
        };
        let mut values = HashMap::from([
            (":creator".to_owned(), s(&stream.creator_id)),
            (":version".to_owned(), n(version)),
        ]);
        let mut assignments = vec![format!("{version_name} = :version")];
        for (name, value) in set {
            assignments.push(format!("{name} = :{name}"));
            values.insert(format!(":{name}"), value);
        }
        if live_only {
            condition.push_str(" AND #status = :live");
            values.insert(":live".to_owned(), s(StreamStatus::Live.as_str()));
        }
        if from_version > 0 {
            values.insert(":from".to_owned(), n(from_version));
        }
        let update = Update::builder()
            .table_name(&self.tables.commerce)
            .set_key(Some(stream_key(&stream.stream_id)))
            .update_expression(format!("SET {}", assignments.join(", ")))
            .condition_expression(condition)
            .set_expression_attribute_names(
                live_only.then(|| HashMap::from([("#status".to_owned(), "status".to_owned())])),
            )
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(OnFail::AllOld)
            .build()
            .expect("table, key and expression are set");
        tx.push(
            Role::Stream(stream.stream_id.clone()),
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
        room: Room {
            guests: times_from(item, "guests")?,
            left: times_from(item, "left_guests")?,
            version: opt_n(item, "room_version")?.unwrap_or(0),
        },
        matches: StreamMatches {
            recent: matches_from(item)?,
            version: opt_n(item, "match_version")?.unwrap_or(0),
        },
    })
}

/// A stream's recent matches as a list of maps.
fn matches_value(m: &StreamMatches) -> AttributeValue {
    AttributeValue::L(
        m.recent
            .iter()
            .map(|e| {
                let mut item: Item = HashMap::from([
                    ("match_id".to_owned(), s(&e.match_id)),
                    ("until".to_owned(), s(&e.until)),
                ]);
                for (name, at) in [("starts_at", &e.starts_at), ("ends_at", &e.ends_at)] {
                    if let Some(at) = at {
                        item.insert(name.to_owned(), s(at));
                    }
                }
                AttributeValue::M(item)
            })
            .collect(),
    )
}

fn matches_from(item: &Item) -> Result<Vec<StreamMatch>, StoreError> {
    let Some(value) = item.get("matches") else {
        return Ok(Vec::new());
    };
    let corrupt = || StoreError::Corrupt("attribute matches is not a list of matches".into());
    value
        .as_l()
        .map_err(|_| corrupt())?
        .iter()
        .map(|e| {
            let e = e.as_m().map_err(|_| corrupt())?;
            Ok(StreamMatch {
                match_id: get_s(e, "match_id")?.to_owned(),
                until: get_s(e, "until")?.to_owned(),
                starts_at: opt_s(e, "starts_at"),
                ends_at: opt_s(e, "ends_at"),
            })
        })
        .collect()
}

/// A user → time map as a DynamoDB map.
fn times(m: &std::collections::BTreeMap<String, String>) -> AttributeValue {
    AttributeValue::M(m.iter().map(|(k, v)| (k.clone(), s(v))).collect())
}

/// A user → time map written by [`times`]; absent on streams from before rooms.
fn times_from(
    item: &Item,
    name: &str,
) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
    let Some(value) = item.get(name) else {
        return Ok(Default::default());
    };
    let corrupt = || StoreError::Corrupt(format!("attribute {name} is not a map of times"));
    value
        .as_m()
        .map_err(|_| corrupt())?
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.as_s().map_err(|_| corrupt())?.clone())))
        .collect()
}
