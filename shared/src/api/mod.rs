//! One module per Lambda function. Each handler is thin: read the request, let the domain
//! decide, commit through the store, answer. Route dispatch is on API Gateway's route key.

pub mod admin;
pub mod agencies;
pub mod creators;
pub mod leaderboards;
pub mod matches;
pub mod openapi;
pub mod payments;
pub mod payouts;
pub mod place_order;
mod reinstatement;
pub mod sellers;
pub mod send_gift;
pub mod shop;
pub mod streams;
pub mod stripe;
pub mod wallet;

/// Most decisions tried on snapshot-pinned items before giving up with 503 (and never past
/// `store::transaction::CONTENTION_BUDGET`): each retry means another write to the same item
/// just won, and a viewer's wallet has few writers.
pub const MAX_PINNED_ATTEMPTS: u32 = 32;
