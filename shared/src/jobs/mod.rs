//! Handlers of queue and schedule events (the API's handlers are in [`crate::api`]).
//!
//! - [`settlement`]: settling gifts — shared by the queue consumer and the sweeper.
//! - [`orders`]: expiring unpaid orders and completing delivered ones.
//! - [`settle_payouts`]: the settlement queue's consumer (`settle-payouts`).
//! - [`payouts`]: requesting payouts, executing them (`execute-payouts`).
//! - [`payout_run`]: the weekly run, fanned out in pieces (`schedule-payouts`).
//! - [`sweep`]: the scheduled sweeper (`sweep-settlements`).

pub mod money_out;
pub mod orders;
pub mod payout_run;
pub mod payouts;
pub mod settle_payouts;
pub mod settlement;
pub mod sweep;
