//! Properties 13-15: rate limits, checked over HTTP in the categories the target publishes in
//! `rate_limits`. Each case counts in a partition of its own (`rate_limits.partition_header`,
//! spec/security.md), so cases run side by side and never spend another check's budget; the
//! checks therefore need the conformance profile, which alone honours partitions and has
//! windows of seconds.

pub mod p13_counting_accuracy;
pub mod p14_enforcement;
pub mod p15_sliding_window;
pub mod real_budget;

use serde_json::Value;

use crate::cases::CaseFailure;
use crate::check::{CheckOutcome, NOT_CONFORMANCE};
use crate::checks::support::unique_scope;
use crate::clause::security as sc;
use crate::http::{Exchange, RequestSpec};
use crate::target::Target;

/// One published policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `auth`, `api` or `static`.
    pub category: String,
    /// Requests per window.
    pub max_requests: u32,
    /// The window, in seconds.
    pub window_seconds: u64,
    /// A path in the category (its first prefix plus a name of ours).
    pub path: String,
}

/// What the target publishes in `rate_limits`.
#[derive(Debug, Clone)]
pub struct RateArea {
    /// The partition header.
    pub partition: String,
    /// Whether the target publishes that it trusts no proxy (`rate_limits.trusted_proxies`
    /// is 0), so forwarding headers must never change whose budget a request spends.
    pub trusts_no_proxy: bool,
    /// The policies.
    pub policies: Vec<Policy>,
}

/// The `rate_limits` area of `target`, or why the checks cannot run against it.
pub fn area(target: &Target) -> Result<RateArea, CheckOutcome> {
    let d = target.discovery();
    if !d.is_conformance() {
        return Err(CheckOutcome::NotVerified(format!(
            "{NOT_CONFORMANCE} (profile: {})",
            d.profile
        )));
    }
    if !d.offers("rate_limits") {
        return Err(CheckOutcome::NotVerified(
            "the target publishes no rate_limits member".into(),
        ));
    }
    let Some(partition) = target.http().partition_header().map(str::to_owned) else {
        return Err(CheckOutcome::NotVerified(
            "the target publishes no rate_limits.partition_header: cases could not run apart"
                .into(),
        ));
    };
    let policies = policies_of(d);
    if policies.is_empty() {
        return Err(CheckOutcome::SetupFailed(CaseFailure::plain(
            "rate_limits.policies with max_requests, window_seconds and path_prefixes (spec/discovery.md)",
            format!(
                "rate_limits = {}",
                d.raw.get("rate_limits").unwrap_or(&Value::Null)
            ),
        )));
    }
    Ok(RateArea {
        partition,
        policies,
        trusts_no_proxy: d
            .raw
            .pointer("/rate_limits/trusted_proxies")
            .and_then(Value::as_u64)
            == Some(0),
    })
}

/// The policies a discovery document publishes, each with a path of ours in its category.
pub fn policies_of(d: &crate::discovery::Discovery) -> Vec<Policy> {
    let mut policies = Vec::new();
    if let Some(Value::Object(map)) = d.raw.pointer("/rate_limits/policies") {
        for (category, p) in map {
            let max = p.get("max_requests").and_then(Value::as_u64);
            let window = p.get("window_seconds").and_then(Value::as_u64);
            let prefix = p.pointer("/path_prefixes/0").and_then(Value::as_str);
            if let (Some(max), Some(window), Some(prefix)) = (max, window, prefix) {
                policies.push(Policy {
                    category: category.clone(),
                    max_requests: u32::try_from(max).unwrap_or(u32::MAX),
                    window_seconds: window,
                    path: format!(
                        "{}dx-conformance-rate",
                        prefix.trim_end_matches('/').to_owned() + "/"
                    ),
                });
            }
        }
    }
    policies
}

/// A fresh partition value.
pub fn fresh_partition() -> String {
    unique_scope("rl").replace('.', "-")
}

/// Sends one request of `policy` in `partition`.
pub async fn hit(
    target: &Target,
    area: &RateArea,
    policy: &Policy,
    partition: &str,
) -> Result<Exchange, CaseFailure> {
    Ok(target
        .next_instance()
        .http()
        .send(RequestSpec::get(&policy.path).header(&area.partition, partition))
        .await?)
}

/// One request in `partition` claiming, through both forwarding headers, to come from `ip`.
pub async fn hit_forged(
    target: &Target,
    area: &RateArea,
    policy: &Policy,
    partition: &str,
    ip: std::net::IpAddr,
) -> Result<Exchange, CaseFailure> {
    Ok(target
        .next_instance()
        .http()
        .send(request_in(area, policy, partition, Some(ip)))
        .await?)
}

/// A request of `policy` in `partition`; with `claimed`, one that claims, through both
/// forwarding headers, to come from that address.
pub fn request_in(
    area: &RateArea,
    policy: &Policy,
    partition: &str,
    claimed: Option<std::net::IpAddr>,
) -> RequestSpec {
    let request = RequestSpec::get(&policy.path).header(&area.partition, partition);
    let Some(ip) = claimed else {
        return request;
    };
    let node = match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("\"[{v6}]\""),
    };
    request
        .header("X-Forwarded-For", ip.to_string())
        .header("Forwarded", format!("for={node}"))
}

/// How many times a burst that may have outlasted its window is sent again, in a fresh
/// partition, before its case is declared unconcluded.
pub const BURST_TRIES: u32 = 3;

/// A burst of requests in one fresh partition, timed from before its first request left.
///
/// The target counts each request at some instant between its sending and its answer's
/// arrival, so while less than a window has passed between the burst's first sending and
/// the latest answer, every request of the burst is still in the window and the count must
/// be exact. Past that, a sliding window may rightly have dropped the first requests: a
/// count lower than the burst (a higher `r`, or an admission past the limit) no longer shows
/// a fault. Over loopback a burst takes milliseconds; through a link with a 50 ms round trip,
/// 20 requests one after another take a second, and longer on a busy machine.
#[derive(Debug)]
pub struct Burst {
    /// The burst's partition.
    pub partition: String,
    started: tokio::time::Instant,
}

impl Burst {
    /// A burst in a fresh partition, starting now.
    pub fn start() -> Self {
        Self {
            partition: fresh_partition(),
            started: tokio::time::Instant::now(),
        }
    }

    /// Whether a window of `policy` may have slid past the burst's first request by now.
    pub fn may_have_slid(&self, policy: &Policy) -> bool {
        self.started.elapsed() >= std::time::Duration::from_secs(policy.window_seconds)
    }

    /// Whether `ex`, which should have been counted as the burst's `expected_remaining`
    /// (`None`: refused), shows the count of a window that slid past the burst's first
    /// requests: admitted with a higher `r` than owed (or admitted at all), after a window
    /// had passed.
    pub fn slid(&self, ex: &Exchange, policy: &Policy, expected_remaining: Option<u64>) -> bool {
        self.slid_by(ex, policy, expected_remaining, self.started.elapsed())
    }

    /// [`Burst::slid`] for an answer that arrived `after` the burst started.
    pub fn slid_by(
        &self,
        ex: &Exchange,
        policy: &Policy,
        expected_remaining: Option<u64>,
        after: std::time::Duration,
    ) -> bool {
        if ex.status == 429 || after < std::time::Duration::from_secs(policy.window_seconds) {
            return false;
        }
        match expected_remaining {
            None => true,
            Some(owed) => current(ex, &policy.category).is_some_and(|(r, _)| r > owed),
        }
    }

    /// Sends a request of `policy` in the burst's partition for each of `claims` (`Some`:
    /// claiming that address, [`request_in`]), one after another, each once the one before
    /// it was answered, then one for each of `then_at_once`, all at once (requests past a
    /// spent budget: none is counted, so their order shows nothing), and returns every answer with how long after the
    /// burst's start it arrived. The requests go from a task of their own: the suite judges
    /// its other lanes' answers on one thread, and on a busy machine that work held each
    /// answer of a burst back until bursts outlasted their 2 s windows through a slow link.
    pub async fn send(
        &self,
        target: &Target,
        area: &RateArea,
        policy: &Policy,
        claims: &[Option<std::net::IpAddr>],
        then_at_once: &[Option<std::net::IpAddr>],
    ) -> Result<Vec<(Exchange, std::time::Duration)>, CaseFailure> {
        let sends = |claims: &[Option<std::net::IpAddr>]| -> Vec<_> {
            claims
                .iter()
                .map(|claimed| {
                    let client = target.next_instance().http().clone();
                    (client, request_in(area, policy, &self.partition, *claimed))
                })
                .collect()
        };
        let (one_by_one, at_once) = (sends(claims), sends(then_at_once));
        let started = self.started;
        let task = tokio::spawn(async move {
            let mut answers = Vec::with_capacity(one_by_one.len() + at_once.len());
            for (client, request) in one_by_one {
                let ex = client.send(request).await?;
                answers.push((ex, started.elapsed()));
            }
            let together = at_once.into_iter().map(|(client, request)| async move {
                let ex = client.send(request).await?;
                Ok::<_, crate::http::TransportError>((ex, started.elapsed()))
            });
            for answer in futures_util::future::join_all(together).await {
                answers.push(answer?);
            }
            Ok::<_, crate::http::TransportError>(answers)
        });
        match task.await {
            Ok(answers) => Ok(answers?),
            Err(stopped) => Err(CaseFailure::plain(
                "a burst sent to its end",
                format!("the burst's task stopped: {stopped}"),
            )),
        }
    }

    /// What an unconcluded case of `policy` says.
    pub fn unconcluded(policy: &Policy, what: &str) -> String {
        format!(
            "{what} in `{}`: each of {BURST_TRIES} bursts took longer than its {} s window, so the window may have slid past its first requests",
            policy.category, policy.window_seconds
        )
    }
}

/// The `r` and `t` of a `RateLimit` field naming `category`.
pub fn current(ex: &Exchange, category: &str) -> Option<(u64, u64)> {
    let field = ex.header("ratelimit")?;
    let mut items = field.split(';');
    let name = items.next()?.trim().trim_matches('"');
    if name != category {
        return None;
    }
    let mut r = None;
    let mut t = None;
    for item in items {
        match item.trim().split_once('=') {
            Some(("r", v)) => r = v.parse().ok(),
            Some(("t", v)) => t = v.parse().ok(),
            _ => {}
        }
    }
    Some((r?, t?))
}

/// Checks an admitted answer's fields: the policy, and `r` = `expected_remaining`.
pub fn expect_admitted(
    ex: &Exchange,
    policy: &Policy,
    expected_remaining: u64,
    what: &str,
) -> Result<(), CaseFailure> {
    if ex.status == 429 {
        return Err(CaseFailure::violates(
            ex,
            &sc::SLIDING,
            format!("{what}: refused within the limit"),
        ));
    }
    let want_policy = format!(
        "\"{}\";q={};w={}",
        policy.category, policy.max_requests, policy.window_seconds
    );
    if ex.header("ratelimit-policy") != Some(want_policy.as_str()) {
        return Err(CaseFailure::violates(
            ex,
            &sc::FIELDS,
            format!("{what}: RateLimit-Policy should be {want_policy}"),
        ));
    }
    match current(ex, &policy.category) {
        Some((r, t)) if r == expected_remaining && t <= policy.window_seconds => Ok(()),
        _ => Err(CaseFailure::violates(
            ex,
            &sc::REMAINING,
            format!("{what}: RateLimit should say r={expected_remaining} with t within the window"),
        )),
    }
}

/// Checks a refusal: 429 `RATE_LIMITED`, Retry-After from 1 to the window; returns it.
pub fn expect_refused(ex: &Exchange, policy: &Policy, what: &str) -> Result<u64, CaseFailure> {
    if ex.status != 429 {
        return Err(CaseFailure::violates(
            ex,
            &sc::REFUSED,
            format!("{what}: the request over the limit"),
        ));
    }
    crate::envelope::expect_code(ex, "RATE_LIMITED", &sc::REFUSED).map_err(|f| f.about(what))?;
    match ex
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(s) if (1..=policy.window_seconds).contains(&s) => Ok(s),
        _ => Err(CaseFailure::violates(
            ex,
            &sc::RETRY_RANGE,
            format!(
                "{what}: Retry-After must be whole seconds from 1 to {}",
                policy.window_seconds
            ),
        )),
    }
}
