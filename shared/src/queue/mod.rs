//! SQS adapters: the only code that sends or parses queue messages.

pub mod payouts;
pub mod settlement;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SQS {op} failed: {message}")]
    Failed { op: &'static str, message: String },
}

/// An SQS error with its code and message, for the logs.
pub(crate) fn sqs_error<E: aws_sdk_sqs::error::ProvideErrorMetadata>(
    op: &'static str,
    e: E,
) -> QueueError {
    QueueError::Failed {
        op,
        message: format!(
            "{}: {}",
            e.code().unwrap_or("unknown"),
            e.message().unwrap_or("no message")
        ),
    }
}
