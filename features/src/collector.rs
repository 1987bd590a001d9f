//! A cucumber `Writer` that turns the runner's events into one `CheckResult` per scenario
//! (an outline row counts as a scenario), instead of printing them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use cucumber::event::{self, Source};
use cucumber::gherkin::{self, Feature, Rule, Scenario};
use cucumber::{Event, Writer, parser, writer};
use dx_conformance::verdict::{CheckResult, Failure, Verdict};

use crate::scenario;
use crate::step_error::StepError;
use crate::world::DxWorld;

/// The results of a run, as they arrive. Clones share one state, so a run stopped at a
/// scenario's time limit still gives up what finished before it.
#[derive(Debug, Default, Clone)]
pub struct Collector {
    state: Rc<RefCell<Collected>>,
}

/// What a run has produced so far.
#[derive(Debug, Default)]
pub struct Collected {
    running: HashMap<Source<Scenario>, Running>,
    results: Vec<CheckResult>,
    parse_errors: Vec<String>,
}

/// A scenario that has started and not finished.
#[derive(Debug)]
struct Running {
    feature: Source<Feature>,
    rule: Option<Source<Rule>>,
    started: Instant,
    steps: u32,
    verdict: Option<Verdict>,
}

impl Collector {
    /// Takes the finished scenarios, in the order they finished, and the feature files that
    /// could not be read.
    pub fn take(&self) -> (Vec<CheckResult>, Vec<String>) {
        let mut state = self.state.borrow_mut();
        (
            std::mem::take(&mut state.results),
            std::mem::take(&mut state.parse_errors),
        )
    }

    /// The scenario running for longer than `limit`, if any, as a result failing for it: the
    /// run is then stopped.
    pub fn overdue(&self, limit: std::time::Duration) -> Option<CheckResult> {
        let state = self.state.borrow();
        let (scenario, run) = state
            .running
            .iter()
            .find(|(_, run)| run.started.elapsed() > limit)?;
        let mut result = run.result(scenario);
        result.verdict = dx_conformance::runner::timed_out(limit);
        Some(result)
    }

    fn on_scenario(
        &mut self,
        feature: &Source<Feature>,
        rule: Option<&Source<Rule>>,
        scenario: &Source<Scenario>,
        event: event::Scenario<DxWorld>,
    ) {
        use event::Scenario as Ev;
        let mut state = self.state.borrow_mut();
        match event {
            Ev::Started => {
                state.running.insert(
                    scenario.clone(),
                    Running {
                        feature: feature.clone(),
                        rule: rule.cloned(),
                        started: Instant::now(),
                        steps: 0,
                        verdict: None,
                    },
                );
            }
            Ev::Step(step, ev) | Ev::Background(step, ev) => {
                if let Some(run) = state.running.get_mut(scenario) {
                    run.on_step(&step, ev);
                }
            }
            Ev::Hook(which, event::Hook::Failed(_, info)) => {
                if let Some(run) = state.running.get_mut(scenario) {
                    run.settle(Verdict::Fail(Failure {
                        expected: format!("the {which} hook of the scenario to succeed"),
                        actual: panic_text(&info),
                        counterexample: None,
                        replay: None,
                    }));
                }
            }
            Ev::Finished => {
                if let Some(run) = state.running.remove(scenario) {
                    let result = run.result(scenario);
                    tracing::debug!(id = %result.id, verdict = result.verdict.label(), "scenario finished");
                    state.results.push(result);
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

    fn result(&self, sc: &Scenario) -> CheckResult {
        let tags = scenario::tags(&self.feature, self.rule.as_deref(), sc);
        CheckResult {
            id: scenario::id(&self.feature, sc),
            property: None,
            title: scenario::title(sc),
            statement: None,
            requirements: scenario::requirements(&tags),
            tags,
            verdict: self.verdict.clone().unwrap_or(Verdict::Pass),
            unverified: None,
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
                self.state.borrow_mut().parse_errors.push(e.to_string());
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
        let feature = Feature::parse(
            "Feature: F\n  Scenario: S\n    Given x\n",
            gherkin::GherkinEnv::default(),
        )
        .unwrap();
        let mut run = Running {
            feature: Source::new(feature),
            rule: None,
            started: Instant::now(),
            steps: 0,
            verdict: None,
        };
        run.settle(Verdict::NotVerified("first".into()));
        run.settle(Verdict::NotVerified("second".into()));
        assert_eq!(run.verdict, Some(Verdict::NotVerified("first".into())));
    }
}
