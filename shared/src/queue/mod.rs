//! SQS adapters: the only code that sends or parses queue messages.

pub mod settlement;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SQS {op} failed: {message}")]
    Failed { op: &'static str, message: String },
}
