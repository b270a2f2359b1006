//! The weekly payout run's queue, consumed by `schedule-payouts`: one message per piece of a
//! run — a page of one shard's payable payees — so a run of any size is many short invocations,
//! each retried (and parked on the DLQ) on its own, instead of one that outgrows its timeout.
//!
//! Body (docs/events.md): `{"type":"payout_run.piece","version":1,"week","shard","after"}`:
//! the ISO week the run pays (`2026-W49`: what makes its payout ids), the shard of the payout
//! run's list, and where in it the piece starts (`null`: at the beginning; otherwise the key
//! of the last payee the piece before read, opaque).

use serde::{Deserialize, Serialize};

use super::{Queue, QueueError};
use crate::store::payouts::PageKey;

pub const PIECE_VERSION: u32 = 1;

/// One piece of a weekly payout run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunPiece {
    pub version: u32,
    pub week: String,
    pub shard: u8,
    pub after: Option<PageKey>,
}

/// The message's body: a piece under its type.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type")]
enum Body {
    #[serde(rename = "payout_run.piece")]
    Piece(RunPiece),
}

impl RunPiece {
    pub fn parse(body: &str) -> Result<Self, String> {
        let Body::Piece(piece) =
            crate::input::parse_json(body.as_bytes()).map_err(|e| e.to_string())?;
        if piece.version != PIECE_VERSION {
            return Err(format!(
                "payout_run.piece version {} is not {PIECE_VERSION}",
                piece.version
            ));
        }
        Ok(piece)
    }
}

#[derive(Clone)]
pub struct RunQueue(Queue);

impl AsRef<Queue> for RunQueue {
    fn as_ref(&self) -> &Queue {
        &self.0
    }
}

impl RunQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: String) -> Self {
        Self(Queue::new(client, url))
    }

    /// The queue the infra code names in `PAYOUT_RUN_QUEUE_URL`.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, crate::config::ConfigError> {
        Queue::from_env(sdk, "PAYOUT_RUN_QUEUE_URL").map(Self)
    }

    pub async fn send(&self, piece: &RunPiece) -> Result<(), QueueError> {
        let body =
            serde_json::to_string(&Body::Piece(piece.clone())).expect("a run piece serializes");
        self.0.send(body, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_piece_round_trips_and_another_version_is_refused() {
        let piece = RunPiece {
            version: PIECE_VERSION,
            week: "2026-W49".into(),
            shard: 3,
            after: None,
        };
        let body = serde_json::to_string(&Body::Piece(piece.clone())).unwrap();
        assert_eq!(
            body,
            r#"{"type":"payout_run.piece","version":1,"week":"2026-W49","shard":3,"after":null}"#
        );
        assert_eq!(RunPiece::parse(&body).unwrap(), piece);
        assert!(RunPiece::parse(&body.replace(":1,", ":2,")).is_err());
        assert!(RunPiece::parse(r#"{"type":"payout.requested"}"#).is_err());
        assert!(RunPiece::parse(&body.replace("null", r#"null,"extra":1"#)).is_err());
    }
}
