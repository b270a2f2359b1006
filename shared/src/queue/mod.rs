//! SQS adapters: the only code that sends or parses queue messages.

pub mod payout_run;
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

/// One queue: its client and URL, from the environment variable the infra code sets.
#[derive(Clone)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    pub(crate) fn new(client: aws_sdk_sqs::Client, url: String) -> Self {
        Self { client, url }
    }

    /// The queue named by `variable`.
    pub(crate) fn from_env(
        sdk: &aws_config::SdkConfig,
        variable: &'static str,
    ) -> Result<Self, crate::config::ConfigError> {
        let url = crate::config::required_env(variable)?;
        Ok(Self::new(aws_sdk_sqs::Client::new(sdk), url))
    }

    /// Opens the connection during init (DNS, TCP, TLS, credentials), so the first send does not
    /// pay for it. A failure only means the first send opens the connection itself.
    pub(crate) async fn warm_up(&self) {
        let attributes = self.client.get_queue_attributes().queue_url(&self.url);
        if let Err(e) = attributes.send().await {
            tracing::warn!(error = %sqs_error("GetQueueAttributes", e), "cannot warm up SQS");
        }
    }

    /// Sends `body`; on a FIFO queue, `fifo` is the message group and deduplication ids.
    pub(crate) async fn send(
        &self,
        body: String,
        fifo: Option<(&str, &str)>,
    ) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .set_message_group_id(fifo.map(|(group, _)| group.to_owned()))
            .set_message_deduplication_id(fifo.map(|(_, dedup)| dedup.to_owned()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sqs_error("SendMessage", e))
    }
}
