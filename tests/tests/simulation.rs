#![recursion_limit = "256"]
//! The fault-injecting simulation (`livepay_tests::sim`), short enough for every test run. The
//! long run is `scripts/simulate` (README: "Proof under faults").

use livepay_tests::sim::{Sim, SimConfig, SIM_SETTINGS};
use livepay_tests::TestEnv;

#[tokio::test]
async fn random_operations_under_faults_keep_every_invariant() {
    let env = TestEnv::with_settings(&SIM_SETTINGS).await;
    let report = Sim::new(&env, SimConfig::from_env(400)).run().await;
    // The run did exercise what it claims to.
    assert!(report.ops.values().sum::<usize>() >= 400 || std::env::var("LIVEPAY_SIM_OPS").is_ok());
    assert!(report.gifts > 0 && report.orders > 0, "{report:?}");
}
