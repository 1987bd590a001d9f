//! Property-based cases over the network: proptest generates and shrinks the inputs, an async
//! function runs each one against the target. (proptest's own runner is synchronous, so this
//! drives its `ValueTree`s directly: generate, run, and on failure simplify while it still
//! fails.)

use std::fmt::Debug;
use std::future::Future;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::clause::Clause;
use crate::http::{Exchange, TransportError};

/// At least this many cases per property, as the design requires.
pub const DEFAULT_CASES: u32 = 100;
/// Most shrink steps tried after a failure (each one is network round trips).
pub const MAX_SHRINK_STEPS: u32 = 64;
/// Longest time spent shrinking one failure. A broken target can make every step wait out
/// its timeouts (a sync case waits seconds for a frame that never comes); the report then
/// comes with the smallest input found so far rather than minutes later.
pub const MAX_SHRINK_TIME: std::time::Duration = std::time::Duration::from_secs(20);

/// How cases are generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseConfig {
    /// Cases to run.
    pub cases: u32,
    /// Seed of the generator; the same seed replays the same inputs.
    pub seed: u64,
}

impl Default for CaseConfig {
    fn default() -> Self {
        Self {
            cases: DEFAULT_CASES,
            seed: 0x00d0_57ee_d5ee_d000,
        }
    }
}

/// Where a case stands in its check: the check's `driver`-th call of [`for_each`] or
/// [`for_all`] (counting from 1, calls made inside another driver's cases not counted) and
/// the `case`-th case of that call. A replay runs only that case (spec/conformance.md,
/// "Replaying a failure").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CasePosition {
    /// Which driver call of the check.
    pub driver: u32,
    /// Which case of that call.
    pub case: u32,
}

/// The position bookkeeping of one running check.
struct Trace {
    /// The ordinal the next top-level driver call gets.
    next_driver: std::cell::Cell<u32>,
    /// How many driver calls are running (more than one: nested in another's case).
    depth: std::cell::Cell<u32>,
    /// The first failing case's position.
    failed_at: std::cell::Cell<Option<CasePosition>>,
    /// When replaying: the only case to run.
    focus: Option<CasePosition>,
    /// The parts of the check that could not conclude ([`unconcluded`]), each with how
    /// often, in the order first met.
    unconcluded: std::cell::RefCell<Vec<(String, u32)>>,
}

tokio::task_local! {
    static TRACE: Trace;
}

/// What [`traced`] learnt of a check besides its output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traced {
    /// Where its first failing case stood.
    pub failed_at: Option<CasePosition>,
    /// What it could not conclude ([`unconcluded`]), each part once with how often it was
    /// met: `"what (n cases)"`, joined by `"; "`. `None` when every case concluded.
    pub unconcluded: Option<String>,
}

/// Runs a check's future, recording where its first failing case stood and what it could
/// not conclude; with `focus`, every driver call runs only that one case (the others pass
/// without running).
pub async fn traced<F: Future>(focus: Option<CasePosition>, check: F) -> (F::Output, Traced) {
    let trace = Trace {
        next_driver: std::cell::Cell::new(1),
        depth: std::cell::Cell::new(0),
        failed_at: std::cell::Cell::new(None),
        focus,
        unconcluded: std::cell::RefCell::new(Vec::new()),
    };
    TRACE
        .scope(trace, async move {
            let output = check.await;
            let traced = TRACE.with(|t| Traced {
                failed_at: t.failed_at.get(),
                unconcluded: describe_unconcluded(&t.unconcluded.borrow()),
            });
            (output, traced)
        })
        .await
}

fn describe_unconcluded(parts: &[(String, u32)]) -> Option<String> {
    let described: Vec<String> = parts
        .iter()
        .map(|(what, n)| match n {
            1 => format!("{what} (1 case)"),
            n => format!("{what} ({n} cases)"),
        })
        .collect();
    (!described.is_empty()).then(|| described.join("; "))
}

/// Records that a case could not conclude, and why: its premise was undone by timing the
/// suite can measure but not control (a burst that outlasted the window it had to fit in,
/// through a slow link). The case passes without judging; a check whose every concluded case
/// held is then a **pass in part** that names `what` (spec/conformance.md, "Checks and
/// verdicts"), never a plain pass. Outside a traced check it is only logged.
pub fn unconcluded(what: impl Into<String>) {
    let what = what.into();
    let recorded = TRACE.try_with(|t| {
        let mut parts = t.unconcluded.borrow_mut();
        match parts.iter_mut().find(|(w, _)| *w == what) {
            Some((_, n)) => *n += 1,
            None => parts.push((what.clone(), 1)),
        }
    });
    if recorded.is_err() {
        tracing::warn!(%what, "a case could not conclude outside a traced check");
    }
}

/// One driver call's place in the trace: its ordinal when it is a top-level call of a
/// traced check. Dropping it leaves the call.
struct DriverCall {
    ordinal: Option<u32>,
    focus: Option<CasePosition>,
}

impl DriverCall {
    fn enter() -> Self {
        TRACE
            .try_with(|t| {
                let depth = t.depth.get();
                t.depth.set(depth + 1);
                if depth > 0 {
                    return Self {
                        ordinal: None,
                        focus: None,
                    };
                }
                let ordinal = t.next_driver.get();
                t.next_driver.set(ordinal + 1);
                Self {
                    ordinal: Some(ordinal),
                    focus: t.focus,
                }
            })
            .unwrap_or(Self {
                ordinal: None,
                focus: None,
            })
    }

    /// With a focus: `None` when this call is not the focused one (it runs nothing), else
    /// the one case to run.
    fn focused_case(&self) -> Option<Option<u32>> {
        match (self.focus, self.ordinal) {
            (None, _) => Some(None),
            (Some(focus), Some(ordinal)) if focus.driver == ordinal => Some(Some(focus.case)),
            (Some(_), _) => None,
        }
    }

    /// Records that case `case` of this call failed (the check's first failure wins).
    fn failed(&self, case: u32) {
        if let Some(driver) = self.ordinal {
            let _ = TRACE.try_with(|t| {
                if t.failed_at.get().is_none() {
                    t.failed_at.set(Some(CasePosition { driver, case }));
                }
            });
        }
    }
}

impl Drop for DriverCall {
    fn drop(&mut self) {
        let _ = TRACE.try_with(|t| t.depth.set(t.depth.get().saturating_sub(1)));
    }
}

/// One failing case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFailure {
    /// What the property requires.
    pub expected: String,
    /// What happened.
    pub actual: String,
    /// A command replaying the exchange that shows it.
    pub replay: Option<String>,
    /// Set when the case could not be run against this target for a reason that is not the
    /// target's fault: the check is then not verified (or passes in part).
    pub not_verified: Option<Box<Unverified>>,
}

/// Why a case could not be run, not being the target's fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unverified {
    /// It could not be sent within `--max-wait` of the target's rate-limit budgets.
    RateLimited(crate::budget::RateLimited),
    /// A set-up the user gave does not work (a test account that does not log in).
    Blocked(String),
}

impl CaseFailure {
    /// A failure shown by `exchange`.
    pub fn at(exchange: &Exchange, expected: impl Into<String>, what: impl Into<String>) -> Self {
        Self {
            expected: expected.into(),
            actual: format!("{}\n\n{}", what.into(), exchange.describe_response()),
            replay: Some(exchange.replay()),
            not_verified: None,
        }
    }

    /// A failure shown by `exchange`, expecting what `clause` of the spec requires.
    pub fn violates(exchange: &Exchange, clause: &Clause, what: impl Into<String>) -> Self {
        Self::at(exchange, clause.cite(), what)
    }

    /// The same failure, its actual result prefixed with what the case sent.
    pub fn about(mut self, what: &str) -> Self {
        self.actual = format!("{what}: {}", self.actual);
        self
    }

    /// Why this case says nothing about the target, when it does not: the target's
    /// rate-limit budget, or a set-up the user gave that does not work.
    pub fn not_verified_reason(&self) -> Option<String> {
        self.not_verified.as_deref().map(|why| match why {
            Unverified::RateLimited(limited) => limited.describe(),
            Unverified::Blocked(why) => why.clone(),
        })
    }

    /// A case that could not be run, for `why`, which is not the target's fault.
    pub fn blocked(why: impl Into<String>) -> Self {
        Self {
            not_verified: Some(Box::new(Unverified::Blocked(why.into()))),
            ..Self::plain("", "")
        }
    }

    /// A failure without an exchange.
    pub fn plain(expected: impl Into<String>, actual: impl Into<String>) -> Self {
        Self {
            expected: expected.into(),
            actual: actual.into(),
            replay: None,
            not_verified: None,
        }
    }
}

impl From<TransportError> for CaseFailure {
    fn from(e: TransportError) -> Self {
        Self {
            expected: crate::clause::conformance::TRANSPORT.cite(),
            actual: format!("no response: {}", e.reason),
            replay: Some(e.replay),
            not_verified: e
                .rate_limited
                .map(|limited| Box::new(Unverified::RateLimited(*limited))),
        }
    }
}

/// How a property's cases ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseOutcome {
    /// All cases held.
    Passed {
        /// Cases run.
        cases: u32,
    },
    /// One case failed; `counterexample` is its shrunk input.
    Failed {
        /// Cases run, including the failing one.
        cases: u32,
        /// The failure of the shrunk input.
        failure: CaseFailure,
        /// The shrunk input, as `crate::wire_text::input` shows it.
        counterexample: String,
    },
}

impl CaseOutcome {
    /// Whether a case failed.
    pub fn is_failed(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }

    /// The cases run.
    pub fn cases(&self) -> u32 {
        match self {
            Self::Passed { cases } | Self::Failed { cases, .. } => *cases,
        }
    }

    /// This outcome followed by `later`'s: the first failure wins, the case counts add up.
    pub fn followed_by(self, later: Self) -> Self {
        let before = self.cases();
        match (self, later) {
            (failed @ Self::Failed { .. }, _) => failed,
            (Self::Passed { .. }, Self::Passed { cases }) => Self::Passed {
                cases: before + cases,
            },
            (
                Self::Passed { .. },
                Self::Failed {
                    cases,
                    failure,
                    counterexample,
                },
            ) => Self::Failed {
                cases: before + cases,
                failure,
                counterexample,
            },
        }
    }
}

/// Generated cases in flight at once, for the checks whose cases share no state on the
/// target ([`for_all_concurrently`]). A case is mostly round trips, so through a link with a
/// real round trip (25 ms each way) cases one after another made Property 24 take over 120 s
/// (9 s on loopback).
pub const CASES_AT_ONCE: usize = 4;

/// How many members of a finite space are tested at once.
pub const ENUMERATION_CONCURRENCY: usize = 8;

/// Runs `test` on every member of a finite space, [`ENUMERATION_CONCURRENCY`] at a time.
/// Finite spaces (codes, statuses, routes, methods) are covered whole, never sampled; the
/// first failing member in enumeration order is reported, with itself as the counterexample.
pub async fn for_each<'a, C, F, Fut>(members: &'a [C], test: F) -> CaseOutcome
where
    C: Debug,
    F: Fn(&'a C) -> Fut,
    Fut: Future<Output = Result<(), CaseFailure>> + 'a,
{
    for_each_concurrently(members, ENUMERATION_CONCURRENCY, test).await
}

/// [`for_each`] with `concurrency` members in flight: for large spaces of cheap requests.
pub async fn for_each_concurrently<'a, C, F, Fut>(
    members: &'a [C],
    concurrency: usize,
    test: F,
) -> CaseOutcome
where
    C: Debug,
    F: Fn(&'a C) -> Fut,
    Fut: Future<Output = Result<(), CaseFailure>> + 'a,
{
    use futures_util::stream::{self, StreamExt};
    let call = DriverCall::enter();
    let Some(only) = call.focused_case() else {
        return CaseOutcome::Passed { cases: 0 };
    };
    let chosen = members
        .iter()
        .enumerate()
        .filter(|(i, _)| only.is_none_or(|case| u32::try_from(*i + 1) == Ok(case)));
    let mut results = stream::iter(chosen.map(|(i, m)| {
        let run = test(m);
        async move { (i, m, run.await) }
    }))
    .buffered(concurrency.max(1));
    let mut cases = 0;
    while let Some((index, member, result)) = results.next().await {
        cases += 1;
        if let Err(failure) = result {
            call.failed(u32::try_from(index + 1).unwrap_or(u32::MAX));
            return CaseOutcome::Failed {
                cases,
                failure,
                counterexample: crate::wire_text::input(member),
            };
        }
    }
    CaseOutcome::Passed { cases }
}

/// Runs `test` on `config.cases` inputs from `strategy`; on the first failure, shrinks.
pub async fn for_all<S, F, Fut>(strategy: S, config: CaseConfig, mut test: F) -> CaseOutcome
where
    S: Strategy,
    S::Value: Debug,
    F: FnMut(S::Value) -> Fut,
    Fut: Future<Output = Result<(), CaseFailure>>,
{
    let call = DriverCall::enter();
    let Some(only) = call.focused_case() else {
        return CaseOutcome::Passed { cases: 0 };
    };
    let mut runner = runner(config);
    let mut ran = 0;
    for case in 1..=config.cases {
        let tree = match strategy.new_tree(&mut runner) {
            Ok(t) => t,
            Err(reason) => {
                return CaseOutcome::Failed {
                    cases: case,
                    failure: CaseFailure::plain(
                        "generated inputs",
                        format!("the input strategy rejected every value: {reason}"),
                    ),
                    counterexample: String::new(),
                };
            }
        };
        if only.is_some_and(|focus| focus != case) {
            // Replaying one case: the cases before it are generated (so the generator's
            // state is the same) but not run.
            continue;
        }
        ran += 1;
        let input = tree.current();
        let outcome = test(input).await;
        // A case may run the client synchronously (wasmi, or waits for Chromium): the
        // checks beside this one, in the same task, get their turn before the next.
        tokio::task::yield_now().await;
        let Err(failure) = outcome else {
            continue;
        };
        call.failed(case);
        return shrink(tree, failure, ran, &mut test).await;
    }
    CaseOutcome::Passed { cases: ran }
}

/// Shrinks the failing input `tree` holds while it still fails (at most
/// [`MAX_SHRINK_STEPS`] steps and [`MAX_SHRINK_TIME`]), one step after another: the failure
/// of the simplest input found, after `ran` cases.
async fn shrink<T, F, Fut>(mut tree: T, failure: CaseFailure, ran: u32, test: &mut F) -> CaseOutcome
where
    T: ValueTree,
    T::Value: Debug,
    F: FnMut(T::Value) -> Fut,
    Fut: Future<Output = Result<(), CaseFailure>>,
{
    if failure.not_verified_reason().is_some() {
        // The target's budget or the set-up, not the input, stopped the case: nothing to
        // shrink.
        return CaseOutcome::Failed {
            cases: ran,
            failure,
            counterexample: String::new(),
        };
    }
    let mut best = (failure, crate::wire_text::input(&tree.current()));
    let mut steps = 0;
    let shrinking = std::time::Instant::now();
    if tree.simplify() {
        while steps < MAX_SHRINK_STEPS && shrinking.elapsed() < MAX_SHRINK_TIME {
            steps += 1;
            let candidate = tree.current();
            let shown = crate::wire_text::input(&candidate);
            let outcome = test(candidate).await;
            tokio::task::yield_now().await;
            match outcome {
                Err(f) => {
                    best = (f, shown);
                    if !tree.simplify() {
                        break;
                    }
                }
                Ok(()) => {
                    if !tree.complicate() {
                        break;
                    }
                }
            }
        }
    }
    CaseOutcome::Failed {
        cases: ran,
        failure: best.0,
        counterexample: best.1,
    }
}

/// [`for_all`] with up to `concurrency` cases in flight, for checks whose cases share no
/// state on the target (a fresh user, channel or scope each). A case is mostly round trips,
/// so over a link with a real round trip, cases run one after another make a check's time
/// the sum of every case's latency (Property 24 alone took over 120 s through a 25 ms link,
/// 9 s on loopback). The inputs and the reported failure are the same as [`for_all`]'s: the
/// first failing case in generation order, shrunk one step after another.
pub async fn for_all_concurrently<S, F, Fut>(
    strategy: S,
    config: CaseConfig,
    concurrency: usize,
    test: F,
) -> CaseOutcome
where
    S: Strategy,
    S::Value: Debug,
    F: Fn(S::Value) -> Fut,
    Fut: Future<Output = Result<(), CaseFailure>>,
{
    use futures_util::stream::{self, StreamExt};
    let call = DriverCall::enter();
    let Some(only) = call.focused_case() else {
        return CaseOutcome::Passed { cases: 0 };
    };
    let mut runner = runner(config);
    // Every tree is generated first, in order, so the inputs are those `for_all` draws.
    let mut trees = Vec::new();
    for case in 1..=config.cases {
        match strategy.new_tree(&mut runner) {
            Ok(tree) if only.is_none_or(|focus| focus == case) => trees.push((case, tree)),
            Ok(_) => {}
            Err(reason) => {
                return CaseOutcome::Failed {
                    cases: case,
                    failure: CaseFailure::plain(
                        "generated inputs",
                        format!("the input strategy rejected every value: {reason}"),
                    ),
                    counterexample: String::new(),
                };
            }
        }
    }
    // A case starts as soon as any other ends (cases differ in length: in order, a long one
    // held back the three behind it). Once one fails, no later case starts, and the cases
    // before it run to their end: the failure reported is the first in generation order.
    let mut failed: Option<(usize, CaseFailure)> = None;
    let mut done = vec![false; trees.len()];
    {
        let test = &test;
        let stop_after = std::cell::Cell::new(usize::MAX);
        let stop_after = &stop_after;
        let mut results = stream::iter(trees.iter().enumerate().map(|(at, (_, tree))| {
            let input = (at <= stop_after.get()).then(|| tree.current());
            async move {
                match input {
                    Some(input) => (at, Some(test(input).await)),
                    None => (at, None),
                }
            }
        }))
        .buffer_unordered(concurrency.max(1));
        while let Some((at, result)) = results.next().await {
            let Some(result) = result else { continue };
            done[at] = true;
            if let Err(failure) = result
                && failed.as_ref().is_none_or(|(first, _)| at < *first)
            {
                stop_after.set(at);
                failed = Some((at, failure));
            }
            if let Some((first, _)) = &failed
                && done[..*first].iter().all(|d| *d)
            {
                break;
            }
        }
    }
    let Some((at, failure)) = failed else {
        return CaseOutcome::Passed {
            cases: u32::try_from(trees.len()).unwrap_or(u32::MAX),
        };
    };
    // As one after another: the cases up to the failing one ran.
    let ran = u32::try_from(at + 1).unwrap_or(u32::MAX);
    let (case, tree) = trees.swap_remove(at);
    call.failed(case);
    shrink(tree, failure, ran, &mut |input| test(input)).await
}

fn runner(config: CaseConfig) -> TestRunner {
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        let word = config.seed.rotate_left(i as u32 * 16) ^ (i as u64);
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    TestRunner::new_with_rng(
        Config {
            cases: config.cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A counterexample is shown in the wire's terms: a body of bytes as text with `\xNN`,
    /// not Rust's `Debug` list of decimal numbers (`[71, 69, 84, ...]`), which it was.
    #[tokio::test]
    async fn counterexamples_show_bytes_as_text() {
        #[derive(Debug)]
        struct Sent {
            #[allow(dead_code)]
            body: Vec<u8>,
        }
        let members = [Sent {
            body: b"GET / HTTP/1.1\r\n\x00\xff".to_vec(),
        }];
        let failed = for_each(&members, |_| async {
            Err(CaseFailure::plain("an answer", "none"))
        })
        .await;
        let CaseOutcome::Failed { counterexample, .. } = &failed else {
            panic!("{failed:?}");
        };
        assert!(
            counterexample.contains(r#"body: b"GET / HTTP/1.1\r\n\x00\xff""#),
            "{counterexample}"
        );
        let shrunk = for_all(
            proptest::collection::vec(Just(b'a'), 8..9),
            CaseConfig { cases: 1, seed: 1 },
            |_| async { Err(CaseFailure::plain("x", "y")) },
        )
        .await;
        let CaseOutcome::Failed { counterexample, .. } = &shrunk else {
            panic!("{shrunk:?}");
        };
        assert_eq!(counterexample, r#"b"aaaaaaaa""#);
    }

    #[tokio::test]
    async fn enumerations_cover_every_member_and_report_the_first_failure() {
        let members: Vec<u32> = (0..50).collect();
        let passed = for_each(&members, |_| async { Ok(()) }).await;
        assert_eq!(passed, CaseOutcome::Passed { cases: 50 });
        let failed = for_each(&members, |n| async move {
            if *n % 20 == 17 {
                Err(CaseFailure::plain("not 17 mod 20", n.to_string()))
            } else {
                Ok(())
            }
        })
        .await;
        match &failed {
            CaseOutcome::Failed {
                cases,
                counterexample,
                ..
            } => {
                assert_eq!(counterexample, "17");
                assert_eq!(*cases, 18);
            }
            other => panic!("{other:?}"),
        }
        let total = passed.clone().followed_by(failed.clone());
        assert_eq!(total.cases(), 68);
        assert!(total.is_failed());
        assert_eq!(failed.clone().followed_by(passed.clone()), failed);
        assert_eq!(
            passed.clone().followed_by(passed),
            CaseOutcome::Passed { cases: 100 }
        );
    }

    #[tokio::test]
    async fn passing_properties_run_every_case() {
        let mut seen = 0;
        let outcome = for_all(
            0u32..10,
            CaseConfig {
                cases: 100,
                seed: 1,
            },
            |_| {
                seen += 1;
                async { Ok(()) }
            },
        )
        .await;
        assert_eq!(outcome, CaseOutcome::Passed { cases: 100 });
        assert_eq!(seen, 100);
    }

    #[tokio::test]
    async fn failures_shrink_to_the_boundary() {
        let outcome = for_all(0u32..10_000, CaseConfig::default(), |n| async move {
            if n >= 500 {
                Err(CaseFailure::plain("n < 500", format!("n = {n}")))
            } else {
                Ok(())
            }
        })
        .await;
        match outcome {
            CaseOutcome::Failed {
                counterexample,
                failure,
                ..
            } => {
                assert_eq!(counterexample, "500");
                assert_eq!(failure.actual, "n = 500");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn concurrent_cases_draw_the_same_inputs_and_report_the_same_failure() {
        let failing = |n: u32| async move {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            if n >= 500 {
                Err(CaseFailure::plain("n < 500", format!("n = {n}")))
            } else {
                Ok(())
            }
        };
        let config = CaseConfig::default();
        let alone = for_all(0u32..10_000, config, failing).await;
        let together = for_all_concurrently(0u32..10_000, config, 8, failing).await;
        assert_eq!(alone, together);

        let seen = std::sync::Mutex::new(Vec::new());
        let started = std::time::Instant::now();
        let passed = for_all_concurrently(any::<u64>(), config, 10, |v| {
            seen.lock().unwrap().push(v);
            async {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok(())
            }
        })
        .await;
        assert_eq!(passed, CaseOutcome::Passed { cases: 100 });
        // One after another, 100 cases of 20 ms take 2 s.
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let mut drawn = Vec::new();
        let _ = for_all(any::<u64>(), config, |v| {
            drawn.push(v);
            async { Ok(()) }
        })
        .await;
        assert_eq!(*seen.lock().unwrap(), drawn);
    }

    #[tokio::test]
    async fn the_same_seed_generates_the_same_inputs() {
        let collect = |seed| async move {
            let mut values = Vec::new();
            let _ = for_all(any::<u64>(), CaseConfig { cases: 5, seed }, |v| {
                values.push(v);
                async { Ok(()) }
            })
            .await;
            values
        };
        assert_eq!(collect(7).await, collect(7).await);
        assert_ne!(collect(7).await, collect(8).await);
    }

    #[tokio::test]
    async fn a_traced_check_records_its_first_failing_case_and_a_focus_runs_only_it() {
        let check = |seen: std::rc::Rc<std::cell::RefCell<Vec<(u32, u32)>>>| async move {
            let members: Vec<u32> = (0..5).collect();
            let first = for_each(&members, |m| {
                let seen = seen.clone();
                async move {
                    seen.borrow_mut().push((1, *m));
                    Ok(())
                }
            })
            .await;
            let second = for_all(0u32..1000, CaseConfig { cases: 50, seed: 3 }, |n| {
                let seen = seen.clone();
                async move {
                    seen.borrow_mut().push((2, n));
                    // A nested driver inside a case is not counted as a step of the check.
                    let nested = for_each(&[n], |_| async { Ok(()) }).await;
                    assert!(!nested.is_failed());
                    if n >= 600 {
                        Err(CaseFailure::plain("n < 600", n.to_string()))
                    } else {
                        Ok(())
                    }
                }
            })
            .await;
            first.followed_by(second)
        };
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let (outcome, traced_run) = traced(None, check(seen.clone())).await;
        let position = traced_run.failed_at;
        let CaseOutcome::Failed { counterexample, .. } = &outcome else {
            panic!("{outcome:?}");
        };
        let position = position.expect("the failing case's position");
        assert_eq!(position.driver, 2);
        assert_eq!(counterexample, "600");
        let first_run = seen.borrow().len();
        assert!(first_run > 5);

        // The replay: nothing of step 1 runs, and step 2 runs only the failing case (then
        // shrinks it the same way).
        let again = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let (replayed, replay_trace) = traced(Some(position), check(again.clone())).await;
        assert_eq!(replayed, outcome_with_cases(&outcome, 1));
        assert_eq!(replay_trace.failed_at, Some(position));
        assert!(again.borrow().iter().all(|(step, _)| *step == 2));
        assert!(again.borrow().len() < first_run);

        // A focus on a member of an enumeration runs only that member.
        let only = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let focus = CasePosition { driver: 1, case: 4 };
        let _ = traced(Some(focus), check(only.clone())).await;
        assert_eq!(only.borrow().as_slice(), [(1, 3)]);
    }

    #[tokio::test]
    async fn unconcluded_parts_are_named_once_with_their_count() {
        let (_, nothing) = traced(None, async {}).await;
        assert_eq!(nothing.unconcluded, None);
        let (_, traced_run) = traced(None, async {
            let outcome =
                for_all_concurrently(0u32..10, CaseConfig::default(), 4, |n| async move {
                    if n % 2 == 0 {
                        unconcluded("an even case");
                    }
                    Ok(())
                })
                .await;
            unconcluded("the slow part");
            outcome
        })
        .await;
        let described = traced_run.unconcluded.unwrap();
        assert!(described.starts_with("an even case ("), "{described}");
        assert!(
            described.ends_with(" cases); the slow part (1 case)"),
            "{described}"
        );
    }

    fn outcome_with_cases(outcome: &CaseOutcome, cases: u32) -> CaseOutcome {
        match outcome.clone() {
            CaseOutcome::Failed {
                failure,
                counterexample,
                ..
            } => CaseOutcome::Failed {
                cases,
                failure,
                counterexample,
            },
            passed => passed,
        }
    }
}
