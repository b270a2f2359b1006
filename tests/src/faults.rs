//! Injected infrastructure faults, as an SDK interceptor on the test clients: a call to
//! DynamoDB or SQS that never arrives (failed before it is sent), or one that takes effect but
//! whose answer is lost (failed after the response came back). Disarmed, it does nothing.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<FaultState>>);

#[derive(Debug, Default)]
struct FaultState {
    mode: Mode,
    counts: FaultCounts,
}

#[derive(Debug, Default)]
enum Mode {
    #[default]
    Off,
    /// Each call fails with this chance per mille, drawn from the seeded source.
    Random(Box<StdRng>, u32),
    /// The process dies: this many more calls are made, the last of them takes effect but its
    /// answer is lost, and every later call fails before it is sent.
    KillAfter(usize),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Calls failed before they reached the service.
    pub dropped_requests: usize,
    /// Calls that took effect, then failed as if their response was lost.
    pub lost_responses: usize,
}

impl FaultCounts {
    pub fn total(&self) -> usize {
        self.dropped_requests + self.lost_responses
    }
}

impl Faults {
    /// From now on each call fails with probability `per_mille`/1000, half of those after
    /// taking effect.
    pub fn arm(&self, seed: u64, per_mille: u32) {
        self.0.lock().unwrap().mode =
            Mode::Random(Box::new(StdRng::seed_from_u64(seed)), per_mille);
    }

    /// The calling process dies at its `calls`-th AWS call from now (see [`Mode::KillAfter`]):
    /// deterministic, unlike a timer.
    pub fn kill_after(&self, calls: usize) {
        self.0.lock().unwrap().mode = Mode::KillAfter(calls);
    }

    pub fn disarm(&self) {
        self.0.lock().unwrap().mode = Mode::Off;
    }

    pub fn counts(&self) -> FaultCounts {
        self.0.lock().unwrap().counts
    }

    /// Whether this call fails at this point (`after`: once it took effect).
    fn strike(&self, after: bool) -> bool {
        let mut state = self.0.lock().unwrap();
        let hit = match &mut state.mode {
            Mode::Off => false,
            // Half the chance before sending, half after: every call draws at both points.
            Mode::Random(rng, per_mille) => rng.random_range(0..2000) < *per_mille,
            Mode::KillAfter(0) => true,
            Mode::KillAfter(left) if after => {
                *left -= 1;
                *left == 0
            }
            Mode::KillAfter(_) => false,
        };
        if hit {
            if after {
                state.counts.lost_responses += 1;
            } else {
                state.counts.dropped_requests += 1;
            }
        }
        hit
    }
}

impl Intercept for Faults {
    fn name(&self) -> &'static str {
        "Faults"
    }

    fn read_before_transmit(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.strike(false) {
            return Err("injected fault: the request never arrived".into());
        }
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _ctx: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.strike(true) {
            return Err("injected fault: the response was lost".into());
        }
        Ok(())
    }
}
