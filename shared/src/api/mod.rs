//! One module per Lambda function. Each handler is thin: read the request, let the domain
//! decide, commit through the store, answer. Route dispatch is on API Gateway's route key.

pub mod creators;
pub mod leaderboards;
pub mod openapi;
pub mod payments;
pub mod payouts;
pub mod place_order;
pub mod send_gift;
pub mod shop;
pub mod streams;
pub mod wallet;

/// Most commits retried on one snapshot-pinned account before giving up with 503: each retry
/// means another write to the same wallet just won, and a viewer's wallet has few writers.
pub const MAX_PINNED_ATTEMPTS: usize = 32;
