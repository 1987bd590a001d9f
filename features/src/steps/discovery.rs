//! Steps about the target itself, read from its discovery document.

use cucumber::given;

use crate::step_error::StepError;
use crate::world::DxWorld;

#[given("the target")]
fn the_target(world: &mut DxWorld) -> Result<(), StepError> {
    let result = world.target().map(drop);
    world.settle(result)
}

/// Stops the scenario as "not verified" (never pass, never fail) outside the conformance
/// profile, as spec/profiles.md requires of checks that need the fault hooks.
#[given("the target is in the conformance profile")]
fn in_conformance_profile(world: &mut DxWorld) -> Result<(), StepError> {
    let result = world.fault_hooks().map(drop);
    world.settle(result)
}
