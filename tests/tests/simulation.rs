#![recursion_limit = "256"]
//! The fault-injecting simulation (`livepay_tests::sim`), short enough for every test run. The
//! long run is `scripts/simulate` (docs/testing.md).

use livepay_tests::sim::{Sim, SimConfig, SIM_SETTINGS};
use livepay_tests::TestEnv;

#[tokio::test]
async fn random_operations_under_faults_keep_every_invariant() {
    let env = TestEnv::with_settings(&SIM_SETTINGS).await;
    let config = SimConfig::from_env(400);
    let report = Sim::new(&env, config).run().await;
    // The run did what it claims: every operation, and money moved through every path.
    assert_eq!(report.ops.values().sum::<usize>(), config.ops);
    assert!(report.gifts > 0 && report.orders > 0, "{report:?}");
    assert!(env.faults.counts().total() > 0, "{report:?}");
}
