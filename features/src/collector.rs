//! A cucumber `Writer` that turns the runner's events into one `CheckResult` per scenario
//! (an outline row counts as a scenario), instead of printing them.

use std::collections::HashMap;
use std::time::Instant;

use cucumber::event::{self, Source};
use cucumber::gherkin::{self, Feature, Rule, Scenario};
use cucumber::{Event, Writer, parser, writer};
use dx_conformance::verdict::{CheckResult, Failure, Verdict};

use crate::scenario;
use crate::step_error::StepError;
use crate::world::DxWorld;

/// The results of a run, as they arrive.
#[derive(Debug, Default)]
pub struct Collector {
    running: HashMap<Source<Scenario>, Running>,
    results: Vec<CheckResult>,
    parse_errors: Vec<String>,
}

/// A scenario that has started and not finished.
#[derive(Debug)]
struct Running {
    started: Instant,
    steps: u32,
    verdict: Option<Verdict>,
}

impl Collector {
    /// The finished scenarios in the order they finished, and the feature files that could
    /// not be read.
    pub fn finish(self) -> (Vec<CheckResult>, Vec<String>) {
        (self.results, self.parse_errors)
    }

    fn on_scenario(
        &mut self,
        feature: &Feature,
        rule: Option<&Rule>,
        scenario: &Source<Scenario>,
        event: event::Scenario<DxWorld>,
    ) {
        use event::Scenario as Ev;
        match event {
            Ev::Started => {
                self.running.insert(
                    scenario.clone(),
                    Running {
                        started: Instant::now(),
                        steps: 0,
                        verdict: None,
                    },
                );
            }
            Ev::Step(step, ev) | Ev::Background(step, ev) => {
                if let Some(run) = self.running.get_mut(scenario) {
                    run.on_step(&step, ev);
                }
            }
            Ev::Hook(which, event::Hook::Failed(_, info)) => {
                if let Some(run) = self.running.get_mut(scenario) {
                    run.settle(Verdict::Fail(Failure {
                        expected: format!("the {which} hook of the scenario to succeed"),
                        actual: panic_text(&info),
                        counterexample: None,
                        replay: None,
                    }));
                }
            }
            Ev::Finished => {
                if let Some(run) = self.running.remove(scenario) {
                    let result = run.into_result(feature, rule, scenario);
                    tracing::debug!(id = %result.id, verdict = result.verdict.label(), "scenario finished");
                    self.results.push(result);
                }
            }
            Ev::Hook(..) | Ev::Log(_) => {}
        }
    }
}

impl Running {
    fn on_step(&mut self, step: &gherkin::Step, event: event::Step<DxWorld>) {
        match event {
            event::Step::Started => {}
            event::Step::Passed(..) => self.steps += 1,
            event::Step::Skipped => self.settle(Verdict::NotVerified(format!(
                "no step definition matches `{}{}`",
                step.keyword, step.value
            ))),
            event::Step::Failed(_, _, world, error) => {
                self.steps += 1;
                self.settle(failed_step_verdict(world.as_deref(), &error));
            }
        }
    }

    /// The first verdict other than pass wins: later steps do not run after it anyway.
    fn settle(&mut self, verdict: Verdict) {
        self.verdict.get_or_insert(verdict);
    }

    fn into_result(self, feature: &Feature, rule: Option<&Rule>, sc: &Scenario) -> CheckResult {
        let tags = scenario::tags(feature, rule, sc);
        CheckResult {
            id: scenario::id(feature, sc),
            property: None,
            title: scenario::title(sc),
            statement: None,
            requirements: scenario::requirements(&tags),
            tags,
            verdict: self.verdict.unwrap_or(Verdict::Pass),
            cases: self.steps,
            duration: self.started.elapsed(),
            position: None,
            expected: None,
        }
    }
}

/// The verdict of a failed step: the structured error the step left in the world, or, for a
/// step that panicked another way, the panic text.
pub fn failed_step_verdict(world: Option<&DxWorld>, error: &event::StepError) -> Verdict {
    match world.and_then(DxWorld::outcome) {
        Some(StepError::NotVerified(reason)) => Verdict::NotVerified(reason.clone()),
        Some(StepError::Failed {
            expected,
            actual,
            replay,
        }) => Verdict::Fail(Failure {
            expected: expected.clone(),
            actual: actual.clone(),
            counterexample: None,
            replay: replay.clone(),
        }),
        None => Verdict::Fail(Failure {
            expected: "the step to succeed".into(),
            actual: match error {
                event::StepError::Panic(info) => panic_text(info),
                other => other.to_string(),
            },
            counterexample: None,
            replay: None,
        }),
    }
}

/// A panic payload as text.
fn panic_text(info: &event::Info) -> String {
    info.downcast_ref::<String>()
        .cloned()
        .or_else(|| info.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "the step panicked with a non-text payload".into())
}

impl Writer<DxWorld> for Collector {
    type Cli = cucumber::cli::Empty;

    async fn handle_event(
        &mut self,
        event: parser::Result<Event<event::Cucumber<DxWorld>>>,
        _cli: &Self::Cli,
    ) {
        let event = match event {
            Ok(e) => e.into_inner(),
            Err(e) => {
                self.parse_errors.push(e.to_string());
                return;
            }
        };
        match event {
            event::Cucumber::Feature(feature, event::Feature::Scenario(sc, ev)) => {
                self.on_scenario(&feature, None, &sc, ev.event);
            }
            event::Cucumber::Feature(
                feature,
                event::Feature::Rule(rule, event::Rule::Scenario(sc, ev)),
            ) => {
                self.on_scenario(&feature, Some(&rule), &sc, ev.event);
            }
            _ => {}
        }
    }
}

/// Each scenario is tracked by its own key, so the order of events across scenarios does not
/// matter and the events need no reordering.
impl writer::Normalized for Collector {}

#[cfg(test)]
mod tests {
    use super::*;

    fn world_with(error: StepError) -> DxWorld {
        let mut world = DxWorld::default();
        let _ = world.settle(Err(error));
        world
    }

    #[test]
    fn not_verified_steps_make_not_verified_scenarios() {
        let world = world_with(StepError::NotVerified("why".into()));
        let verdict = failed_step_verdict(Some(&world), &event::StepError::NotFound);
        assert_eq!(verdict, Verdict::NotVerified("why".into()));
    }

    #[test]
    fn failed_steps_keep_expected_actual_and_replay() {
        let world = world_with(StepError::Failed {
            expected: "HTTP status 404".into(),
            actual: "HTTP 200".into(),
            replay: Some("curl -i".into()),
        });
        let verdict = failed_step_verdict(Some(&world), &event::StepError::NotFound);
        assert_eq!(
            verdict,
            Verdict::Fail(Failure {
                expected: "HTTP status 404".into(),
                actual: "HTTP 200".into(),
                counterexample: None,
                replay: Some("curl -i".into()),
            })
        );
    }

    #[test]
    fn other_panics_fail_with_their_text() {
        let info: event::Info = std::sync::Arc::new(String::from("boom"));
        let verdict = failed_step_verdict(None, &event::StepError::Panic(info));
        let Verdict::Fail(failure) = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(failure.actual, "boom");
        assert_eq!(failure.replay, None);
    }

    #[test]
    fn the_first_verdict_other_than_pass_wins() {
        let mut run = Running {
            started: Instant::now(),
            steps: 0,
            verdict: None,
        };
        run.settle(Verdict::NotVerified("first".into()));
        run.settle(Verdict::NotVerified("second".into()));
        assert_eq!(run.verdict, Some(Verdict::NotVerified("first".into())));
    }
}
