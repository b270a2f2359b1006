//! Pure business rules: plain Rust over plain types, no AWS types, no I/O.
//! Every rule lives here once; handlers call it, adapters persist what it decides.

pub mod admin;
pub mod agencies;
pub mod audit;
pub mod chargebacks;
pub mod gifts;
pub mod ids;
pub mod ledger;
pub mod matches;
pub mod payments;
pub mod payouts;
pub mod refunds;
pub mod reinstatement;
pub mod rooms;
pub mod sealed;
pub mod settlement;
pub mod shop;
pub mod stock;
pub mod streams;
pub mod stripe;
pub mod time;
pub mod wallet;
