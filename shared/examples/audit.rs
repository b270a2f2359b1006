//! The ledger audit against a deployment or the local stack: reads every table once and prints
//! each broken invariant (docs/runbook.md, "Ledger audit"). Exits 1 when one is found.
//!
//!   set -a; source .local/run/functions.env; set +a   # the local stack's function environment
//!   cargo run -q -p livepay-shared --example audit

use livepay::domain::audit::{violations, Moment, Policies};

#[tokio::main]
async fn main() {
    let (app, _) = livepay::App::from_env()
        .await
        .expect("the functions' environment (table names) is set");
    let snapshot = app
        .store
        .audit_snapshot()
        .await
        .expect("every table can be scanned");
    let policies = Policies {
        settlement: &app.config.settlement,
        shop: &app.config.shop,
    };
    // Live traffic: unsettled gifts and unfinished payouts are normal, not violations.
    let found = violations(&snapshot, &policies, Moment::InFlight);
    println!(
        "audited {} accounts, {} gifts, {} orders, {} payouts, {} products: {} violation(s)",
        snapshot.accounts.len(),
        snapshot.gifts.len(),
        snapshot.orders.len(),
        snapshot.payouts.len(),
        snapshot.stock.len(),
        found.len()
    );
    for v in &found {
        println!("  {v}");
    }
    std::process::exit(i32::from(!found.is_empty()));
}
