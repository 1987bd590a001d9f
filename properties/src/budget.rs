//! The target's rate-limit budgets, as the suite spends them (spec/conformance.md, "Rate
//! limits of the target"). A deployment in its production configuration limits the machine
//! that runs the suite like any other client: the suite paces its requests within each
//! published category, reads `RateLimit` and `Retry-After` on every answer, and when a
//! request is refused anyway it waits the time the target names and sends it again. A check
//! that would have to wait longer than `--max-wait` in all is *not verified: rate limited*,
//! never failed: a 429 is the target keeping its promise, not breaking another one.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio::time::Instant;

use crate::discovery::Discovery;

/// The default of `--max-wait`: the most one check waits, in all, for the target's budgets.
/// The production defaults of the reference have one-minute windows: two minutes let a check
/// ride out two of them, which is what the checks that need no account spend against a
/// production deployment apart from Property 8's many requests to the `auth` routes.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(120);

/// Slack added to every wait the suite computes from its own log: the target's window
/// starts when a request arrives, a little after the suite sent it.
const SLACK: Duration = Duration::from_millis(250);

/// One published category: `rate_limits.policies.<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// `auth`, `api`, `static`, or what the target names.
    pub name: String,
    /// Requests admitted per window.
    pub max_requests: u32,
    /// The window.
    pub window: Duration,
    /// The path prefixes that count against it.
    pub prefixes: Vec<String>,
}

/// Why a request was not sent: the target's budget would have made the check wait longer
/// than `--max-wait`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct RateLimited {
    /// The category, when the target publishes or names it.
    pub category: Option<String>,
    /// How long the budget would have made the request wait.
    pub needed: Duration,
    /// The wait allowed (`--max-wait`).
    pub allowed: Duration,
}

impl RateLimited {
    /// The reason a check gives for not being verified.
    pub fn describe(&self) -> String {
        let category = self
            .category
            .as_deref()
            .map_or("the target's rate limit".to_owned(), |c| {
                format!("the target's `{c}` budget")
            });
        format!(
            "rate limited: {category} would have made the check wait {} s more, past --max-wait {} s (spec/conformance.md, \"Rate limits of the target\")",
            self.needed.as_secs_f64().ceil(),
            self.allowed.as_secs()
        )
    }
}

/// The suite's view of one category.
#[derive(Debug, Default)]
struct Spent {
    /// When each request the suite sent (and the target did not refuse) left, oldest first,
    /// within the last window, plus requests the target says were spent by others.
    log: VecDeque<Instant>,
    /// Nothing may be sent before this (a `RateLimit` with `r=0`, or a `Retry-After`).
    blocked_until: Option<Instant>,
    /// The checks waiting for room, each with how many of its requests wait.
    waiting: HashMap<usize, u32>,
    /// What each check sent within the last window: room is shared among the checks that
    /// spend the category, so a check that sends one request at a time (each after the last
    /// answer) keeps its share while others keep several waiting.
    by_check: HashMap<usize, VecDeque<Instant>>,
    /// How many requests each check has sent in this category over the run: of the waiting
    /// checks within their share, the one served least so far has the turn, so a check that
    /// starts late is not starved by those that started first.
    served: HashMap<usize, u64>,
}

impl Spent {
    /// Whether `check` may take room now: it has not spent its share of the window
    /// (`max_requests` divided among the checks spending the category) while another check
    /// spends it too, and no other waiting check within its share has been served less over
    /// the run.
    fn is_turn_of(&self, check: usize, max_requests: usize) -> bool {
        let mut spenders: Vec<usize> = self
            .by_check
            .keys()
            .copied()
            .chain(self.waiting.keys().copied())
            .chain([check])
            .collect();
        spenders.sort_unstable();
        spenders.dedup();
        let share = max_requests.div_ceil(spenders.len());
        let within_share = |id: usize| {
            spenders.len() == 1 || self.by_check.get(&id).map_or(0, VecDeque::len) < share
        };
        let served = |id: usize| self.served.get(&id).copied().unwrap_or(0);
        within_share(check)
            && self
                .waiting
                .keys()
                .filter(|id| within_share(**id))
                .all(|id| served(*id) >= served(check))
    }

    /// Forgets what left the window (`window` ago) at `now`.
    fn slide(&mut self, now: Instant, window: Duration) {
        let old = |t: &Instant| now.duration_since(*t) >= window;
        while self.log.front().is_some_and(old) {
            self.log.pop_front();
        }
        for log in self.by_check.values_mut() {
            while log.front().is_some_and(old) {
                log.pop_front();
            }
        }
        self.by_check.retain(|_, log| !log.is_empty());
    }

    /// `check` sends a request at `now`.
    fn spend(&mut self, check: usize, now: Instant) {
        self.log.push_back(now);
        self.by_check.entry(check).or_default().push_back(now);
        *self.served.entry(check).or_default() += 1;
    }

    /// One more request of `check` waits.
    fn enqueue(&mut self, check: usize) {
        *self.waiting.entry(check).or_default() += 1;
    }

    /// A waiting request of `check` stops waiting (it took room, or gave up).
    fn dequeue(&mut self, check: usize) {
        if let Some(waiting) = self.waiting.get_mut(&check) {
            *waiting = waiting.saturating_sub(1);
            if *waiting == 0 {
                self.waiting.remove(&check);
            }
        }
    }
}

/// How long a request waits for its turn while there is room, before it takes the room
/// anyway: a check whose turn it is may be busy elsewhere.
const TURN_WAIT: Duration = Duration::from_millis(200);

/// Which check a request belongs to, for taking turns: its wait account's id, or 0 outside
/// any (a scenario's requests).
fn check_id() -> usize {
    WaitAccount::current().map_or(0, |a| a.id)
}

/// The id of the next wait account.
static NEXT_ACCOUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

/// A request waiting for room in its category; dropping it (served, refused or cancelled)
/// takes it out.
struct InTurn<'b> {
    budgets: &'b Budgets,
    category: String,
    check: usize,
}

impl Drop for InTurn<'_> {
    fn drop(&mut self) {
        let mut all = self
            .budgets
            .spent
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(spent) = all.get_mut(&self.category) {
            spent.dequeue(self.check);
        }
        drop(all);
        self.budgets.turn_taken.notify_waiters();
    }
}

/// The budgets of one deployment, shared by every instance and every check of a run.
#[derive(Debug)]
pub struct Budgets {
    categories: Vec<Category>,
    /// Whether requests are paced at all: not when every request counts in a fresh
    /// partition of its own (a conformance target's `partition_header`).
    paced: bool,
    /// Whether the categories come from a discovery document: then a path in no category is
    /// not limited (spec/security.md), and a 429 to it is an answer, not a refusal (the
    /// `error` fault hook returns one on purpose).
    published: bool,
    spent: Mutex<HashMap<String, Spent>>,
    /// What the run is waiting for now, for the progress line.
    waiting: Mutex<Option<(String, Instant)>>,
    /// `--max-wait`, in milliseconds: the bound of one wait outside a check's account (a
    /// scenario's).
    max_wait_ms: AtomicU64,
    /// Wakes the requests waiting for their turn when a turn ends.
    turn_taken: tokio::sync::Notify,
}

/// The category a response's `RateLimit-Policy` names, when a target publishes none.
const UNPUBLISHED: &str = "";

impl Budgets {
    /// The budgets `discovery` publishes. With `partitioned`, every request of the suite
    /// counts in a fresh partition, so nothing is paced; refusals are still waited out.
    pub fn of(discovery: &Discovery, partitioned: bool) -> Self {
        Self {
            published: true,
            ..Self::new(categories_of(&discovery.raw), !partitioned)
        }
    }

    /// A target that publishes no budgets (no discovery document): nothing is paced, but a
    /// refusal's `Retry-After` is still honoured.
    pub fn unpublished() -> Self {
        Self::new(Vec::new(), false)
    }

    fn new(categories: Vec<Category>, paced: bool) -> Self {
        Self {
            categories,
            paced,
            published: false,
            spent: Mutex::new(HashMap::new()),
            waiting: Mutex::new(None),
            max_wait_ms: AtomicU64::new(millis(DEFAULT_MAX_WAIT)),
            turn_taken: tokio::sync::Notify::new(),
        }
    }

    /// Sets `--max-wait`: the most a check waits, in all, for budgets (a scenario: in one
    /// wait).
    pub fn set_max_wait(&self, limit: Duration) {
        self.max_wait_ms.store(millis(limit), Ordering::Relaxed);
    }

    /// `--max-wait`.
    pub fn max_wait(&self) -> Duration {
        Duration::from_millis(self.max_wait_ms.load(Ordering::Relaxed))
    }

    /// The budget `path` is paced within, when the suite paces it: the checks whose cases
    /// each spend much of a small budget send them one at a time.
    pub fn pacing(&self, path: &str) -> Option<&Category> {
        self.category_of(path).filter(|_| self.paced)
    }

    /// The published categories.
    pub fn categories(&self) -> &[Category] {
        &self.categories
    }

    /// The category `path` counts against: the one of its longest matching prefix
    /// (spec/security.md, "Rate limits").
    pub fn category_of(&self, path: &str) -> Option<&Category> {
        self.categories
            .iter()
            .flat_map(|c| c.prefixes.iter().map(move |p| (p, c)))
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, c)| c)
    }

    /// What the run waits for now, and since when: for the progress line.
    pub fn waiting(&self) -> Option<(String, Duration)> {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|(what, since)| (what.clone(), since.elapsed()))
    }

    /// Waits, within the check's `--max-wait`, until `path`'s category has room for one
    /// more request, and records it as spent.
    pub async fn acquire(&self, path: &str) -> Result<Ticket, RateLimited> {
        let Some(category) = self.pacing(path).cloned() else {
            return Ok(Ticket {
                category: self.category_of(path).map(|c| c.name.clone()),
                sent: None,
            });
        };
        let check = check_id();
        let mut queued: Option<InTurn<'_>> = None;
        let mut turn_waited = Duration::ZERO;
        loop {
            let now = Instant::now();
            let until = {
                let mut all = self.spent.lock().unwrap_or_else(PoisonError::into_inner);
                let spent = all.entry(category.name.clone()).or_default();
                spent.slide(now, category.window + SLACK);
                let blocked = spent.blocked_until.filter(|b| *b > now);
                let max = category.max_requests as usize;
                let full = spent.log.len() >= max;
                let turn = spent.is_turn_of(check, max) || turn_waited >= TURN_WAIT;
                let until = match (blocked, full) {
                    (None, false) if turn => {
                        spent.spend(check, now);
                        drop(all);
                        drop(queued.take());
                        return Ok(Ticket {
                            category: Some(category.name.clone()),
                            sent: Some(now),
                        });
                    }
                    (None, false) => None,
                    (blocked, _) => {
                        let freed = if full {
                            spent.log.front().map(|t| *t + category.window + SLACK)
                        } else {
                            None
                        };
                        Some(blocked.into_iter().chain(freed).max().unwrap_or(now))
                    }
                };
                if queued.is_none() {
                    spent.enqueue(check);
                }
                until
            };
            if queued.is_none() {
                queued = Some(InTurn {
                    budgets: self,
                    category: category.name.clone(),
                    check,
                });
            }
            match until {
                Some(until) => self.wait_until(&category.name, until).await?,
                None => {
                    // There is room, but another check's turn: wait for it to be taken.
                    let started = Instant::now();
                    let account = WaitAccount::current();
                    let _waiting = account.as_ref().map(|a| a.enter());
                    let _ = tokio::time::timeout(TURN_WAIT, self.turn_taken.notified()).await;
                    turn_waited += started.elapsed();
                }
            }
        }
    }

    /// Reads what `status` and `headers` say of the budget the request of `ticket` spent.
    /// Returns how long to wait before sending it again when the target refused it (429),
    /// `None` otherwise.
    pub fn observe(&self, ticket: &Ticket, status: StatusCode, headers: &HeaderMap) -> Refusal {
        let now = Instant::now();
        let named = ratelimit_field(headers);
        let category = ticket
            .category
            .clone()
            .or_else(|| named.as_ref().map(|(name, _, _)| name.clone()))
            .unwrap_or_else(|| UNPUBLISHED.to_owned());
        if self.published && ticket.category.is_none() {
            return Refusal::Admitted;
        }
        let mut all = self.spent.lock().unwrap_or_else(PoisonError::into_inner);
        let spent = all.entry(category.clone()).or_default();
        if status == StatusCode::TOO_MANY_REQUESTS {
            // A refused request is not counted (spec/security.md): forget it, and wait.
            if let Some(sent) = ticket.sent
                && let Some(at) = spent.log.iter().rposition(|t| *t == sent)
            {
                spent.log.remove(at);
            }
            let wait = retry_after(headers).unwrap_or(Duration::from_secs(1));
            let until = now + wait;
            spent.blocked_until = Some(spent.blocked_until.map_or(until, |b| b.max(until)));
            return Refusal::Refused {
                category: (!category.is_empty()).then_some(category),
                wait,
            };
        }
        if let Some((name, remaining, reset)) = named
            && name == category
            && let Some(published) = self.categories.iter().find(|c| c.name == name)
        {
            // Others behind the same address spend the same budget: the target's count wins
            // over the suite's own log whenever it says less is left.
            let max = published.max_requests as usize;
            let used = max.saturating_sub(usize::try_from(remaining).unwrap_or(max));
            while spent.log.len() < used {
                spent.log.push_back(now);
            }
            if remaining == 0 {
                let until = now + Duration::from_secs(reset);
                spent.blocked_until = Some(spent.blocked_until.map_or(until, |b| b.max(until)));
            }
        }
        Refusal::Admitted
    }

    /// Sleeps until `until`, counted against the running check's `--max-wait`.
    async fn wait_until(&self, category: &str, until: Instant) -> Result<(), RateLimited> {
        let needed = until.saturating_duration_since(Instant::now());
        if needed.is_zero() {
            return Ok(());
        }
        let account = WaitAccount::current();
        let allowed = account
            .as_ref()
            .map_or_else(|| self.max_wait(), |a| a.limit);
        let left = account
            .as_ref()
            .map_or_else(|| self.max_wait(), |a| a.remaining());
        if needed > left {
            return Err(RateLimited {
                category: (!category.is_empty()).then(|| category.to_owned()),
                needed,
                allowed,
            });
        }
        let _waiting = account.as_ref().map(|a| a.enter());
        {
            let mut now_waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            *now_waiting = Some((
                if category.is_empty() {
                    "the target's rate limit".to_owned()
                } else {
                    format!("the `{category}` budget")
                },
                Instant::now(),
            ));
        }
        tokio::time::sleep_until(until).await;
        *self.waiting.lock().unwrap_or_else(PoisonError::into_inner) = None;
        Ok(())
    }

    /// Waits out a refusal's `Retry-After` before the request is sent again.
    pub async fn wait_out(&self, refusal: &Refusal) -> Result<(), RateLimited> {
        match refusal {
            Refusal::Admitted => Ok(()),
            Refusal::Refused { category, wait } => {
                self.wait_until(
                    category.as_deref().unwrap_or(UNPUBLISHED),
                    Instant::now() + *wait,
                )
                .await
            }
        }
    }
}

/// A request's place in its category's budget.
#[derive(Debug, Clone)]
pub struct Ticket {
    category: Option<String>,
    sent: Option<Instant>,
}

impl Ticket {
    /// A request the suite sends outside every budget: a rate-limit check's own, in a
    /// partition of its own.
    pub fn unpaced() -> Self {
        Self {
            category: None,
            sent: None,
        }
    }
}

/// What an answer said of its request's budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request was admitted (whatever its status).
    Admitted,
    /// The target refused it with 429: send it again after `wait`.
    Refused {
        /// The category, when known.
        category: Option<String>,
        /// The `Retry-After`.
        wait: Duration,
    },
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The published categories of a discovery document's `rate_limits.policies`.
pub fn categories_of(document: &Value) -> Vec<Category> {
    let Some(Value::Object(policies)) = document.pointer("/rate_limits/policies") else {
        return Vec::new();
    };
    policies
        .iter()
        .filter_map(|(name, p)| {
            Some(Category {
                name: name.clone(),
                max_requests: u32::try_from(p.get("max_requests")?.as_u64()?).ok()?,
                window: Duration::from_secs(p.get("window_seconds")?.as_u64()?),
                prefixes: p
                    .get("path_prefixes")?
                    .as_array()?
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
            })
        })
        .collect()
}

/// The `(category, r, t)` of a response's `RateLimit` field (draft-ietf-httpapi-ratelimit-
/// headers-09: `"<category>";r=<remaining>;t=<reset>`).
pub fn ratelimit_field(headers: &HeaderMap) -> Option<(String, u64, u64)> {
    let field = headers.get("ratelimit")?.to_str().ok()?;
    let mut items = field.split(';');
    let name = items.next()?.trim().trim_matches('"').to_owned();
    let (mut r, mut t) = (None, None);
    for item in items {
        match item.trim().split_once('=') {
            Some(("r", v)) => r = v.trim().parse().ok(),
            Some(("t", v)) => t = v.trim().parse().ok(),
            _ => {}
        }
    }
    Some((name, r?, t?))
}

/// A `Retry-After` in seconds (RFC 9110 §10.2.3; an HTTP date counts from now).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let seconds = (date.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    Some(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
}

/// The time one running check has spent waiting for budgets: the union of its waits, so
/// that many cases waiting at once count once.
#[derive(Debug)]
pub struct WaitAccount {
    /// Which check this is, for taking turns at a full budget.
    id: usize,
    limit: Duration,
    state: Mutex<AccountState>,
    /// The check's account, for a courtesy scope ([`WaitAccount::courtesy`]): its waits
    /// count there too, so the check's time limit still allows for them.
    parent: Option<Arc<WaitAccount>>,
}

/// The most a courtesy scope waits for budgets: the requests it sends are owed to the
/// target (deleting what the suite stored), not to the verdict.
pub const COURTESY_WAIT: Duration = Duration::from_secs(600);

#[derive(Debug, Default)]
struct AccountState {
    used: Duration,
    waiters: u32,
    since: Option<Instant>,
}

tokio::task_local! {
    static ACCOUNT: Arc<WaitAccount>;
}

impl WaitAccount {
    /// An account allowing `limit` of waits in all.
    pub fn new(limit: Duration) -> Arc<Self> {
        Arc::new(Self {
            id: NEXT_ACCOUNT.fetch_add(1, Ordering::Relaxed),
            limit,
            state: Mutex::new(AccountState::default()),
            parent: None,
        })
    }

    /// Runs `requests` allowed to wait up to [`COURTESY_WAIT`] beyond the running check's
    /// `--max-wait`: for clean-up the target is owed whatever the verdict (the items a
    /// check stored in a test account). The waits still count in the check's account.
    pub async fn courtesy<F: Future>(requests: F) -> F::Output {
        let parent = Self::current();
        let account = Arc::new(Self {
            // The clean-up takes its turns as the check it belongs to.
            id: parent
                .as_ref()
                .map_or_else(|| NEXT_ACCOUNT.fetch_add(1, Ordering::Relaxed), |p| p.id),
            limit: COURTESY_WAIT,
            state: Mutex::new(AccountState::default()),
            parent,
        });
        account.scope(requests).await
    }

    /// Runs `check` under this account: every wait for a budget inside it is counted here.
    pub async fn scope<F: Future>(self: &Arc<Self>, check: F) -> F::Output {
        ACCOUNT.scope(self.clone(), check).await
    }

    /// Runs `check` with a wait allowance of `limit`; returns its output and the time it
    /// spent waiting for budgets.
    pub async fn run<F: Future>(limit: Duration, check: F) -> (F::Output, Duration) {
        let account = Self::new(limit);
        let output = account.scope(check).await;
        (output, account.used())
    }

    /// The account of the running check, if it runs under one.
    pub fn current() -> Option<Arc<Self>> {
        ACCOUNT.try_with(Arc::clone).ok()
    }

    /// The time spent waiting so far.
    pub fn used(&self) -> Duration {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.used + state.since.map_or(Duration::ZERO, |s| s.elapsed())
    }

    fn remaining(&self) -> Duration {
        self.limit.saturating_sub(self.used())
    }

    fn enter(self: &Arc<Self>) -> Waiting {
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.waiters == 0 {
                state.since = Some(Instant::now());
            }
            state.waiters += 1;
        }
        Waiting {
            account: self.clone(),
            _parent: self.parent.as_ref().map(|p| Box::new(p.enter())),
        }
    }
}

/// One wait in progress, in an account and its parent's; dropping it ends it.
struct Waiting {
    account: Arc<WaitAccount>,
    _parent: Option<Box<Waiting>>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let mut state = self
            .account
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.waiters = state.waiters.saturating_sub(1);
        if state.waiters == 0
            && let Some(since) = state.since.take()
        {
            state.used += since.elapsed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    fn budgets(max: u32, window: u64) -> Budgets {
        let document = json!({"rate_limits": {"policies": {
            "auth": {"max_requests": max, "window_seconds": window, "path_prefixes": ["/api/v1/auth/"]},
            "api": {"max_requests": 300, "window_seconds": 60, "path_prefixes": ["/api/"]},
        }}});
        Budgets::new(categories_of(&document), true)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn a_path_counts_against_its_longest_prefix() {
        let b = budgets(10, 60);
        assert_eq!(b.category_of("/api/v1/auth/login").unwrap().name, "auth");
        assert_eq!(b.category_of("/api/v1/items").unwrap().name, "api");
        assert!(b.category_of("/health").is_none());
    }

    #[test]
    fn fields_are_read() {
        let h = headers(&[("ratelimit", "\"auth\";r=3;t=42"), ("retry-after", "7")]);
        assert_eq!(ratelimit_field(&h), Some(("auth".into(), 3, 42)));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        assert_eq!(ratelimit_field(&headers(&[("ratelimit", "junk")])), None);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_are_paced_within_the_published_budget() {
        let b = budgets(3, 2);
        let started = tokio::time::Instant::now();
        for _ in 0..3 {
            b.acquire("/api/v1/auth/login").await.unwrap();
        }
        assert!(started.elapsed() < Duration::from_millis(10));
        // The fourth waits for the first to leave the window (the account allows it).
        let (fourth, waited) =
            WaitAccount::run(Duration::from_secs(10), b.acquire("/api/v1/auth/login")).await;
        fourth.unwrap();
        assert!(waited >= Duration::from_secs(2), "{waited:?}");
        // Another category is not held up.
        let before = tokio::time::Instant::now();
        b.acquire("/api/v1/items").await.unwrap();
        assert_eq!(before.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_past_max_wait_is_rate_limited_naming_the_category() {
        let b = budgets(1, 60);
        b.acquire("/api/v1/auth/me").await.unwrap();
        let (second, _) =
            WaitAccount::run(Duration::from_secs(5), b.acquire("/api/v1/auth/me")).await;
        let err = second.unwrap_err();
        assert_eq!(err.category.as_deref(), Some("auth"));
        assert!(
            err.describe().contains("`auth` budget"),
            "{}",
            err.describe()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_courtesy_scope_waits_past_max_wait_and_counts_in_the_check() {
        let b = budgets(1, 60);
        b.acquire("/api/v1/auth/me").await.unwrap();
        let ((stopped, cleaned), waited) = WaitAccount::run(Duration::from_secs(5), async {
            let stopped = b.acquire("/api/v1/auth/me").await;
            let cleaned = WaitAccount::courtesy(b.acquire("/api/v1/auth/me")).await;
            (stopped, cleaned)
        })
        .await;
        // The check itself may not wait a minute; its clean-up may, and the check's account
        // (which its time limit allows for) counts the wait.
        assert!(stopped.is_err());
        cleaned.unwrap();
        assert!(waited >= Duration::from_secs(59), "{waited:?}");
    }

    /// A check that keeps four requests waiting and one that sends one at a time share a
    /// full category in turn: the patient one is not starved.
    #[tokio::test(start_paused = true)]
    async fn waiting_checks_take_room_in_turn() {
        // Room comes back ten at a time, and every request travels 5 ms before the next.
        let b = Arc::new(budgets(10, 1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let greedy = {
            let (b, order) = (b.clone(), order.clone());
            WaitAccount::run(Duration::from_secs(600), async move {
                let lanes = (0..4).map(|_| {
                    let (b, order) = (b.clone(), order.clone());
                    async move {
                        for _ in 0..10 {
                            b.acquire("/api/v1/auth/login").await.unwrap();
                            order.lock().unwrap().push('g');
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                });
                futures_util::future::join_all(lanes).await;
            })
        };
        let patient = {
            let (b, order) = (b.clone(), order.clone());
            WaitAccount::run(Duration::from_secs(600), async move {
                for _ in 0..10 {
                    b.acquire("/api/v1/auth/login").await.unwrap();
                    order.lock().unwrap().push('p');
                    // The request travels before the next one is made.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        tokio::join!(greedy, patient);
        let order: String = order.lock().unwrap().iter().collect();
        // The patient check gets every other slot while both wait, not one in five: its ten
        // requests are among the first thirty, not pushed behind most of the greedy forty.
        let last_patient = order.rfind('p').unwrap();
        assert!(last_patient < 30, "{order}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_forgotten_and_waited_out() {
        let b = budgets(10, 60);
        let ticket = b.acquire("/api/v1/auth/login").await.unwrap();
        let refusal = b.observe(
            &ticket,
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "4"), ("ratelimit", "\"auth\";r=0;t=4")]),
        );
        assert_eq!(
            refusal,
            Refusal::Refused {
                category: Some("auth".into()),
                wait: Duration::from_secs(4)
            }
        );
        let (waited, used) = WaitAccount::run(Duration::from_secs(10), b.wait_out(&refusal)).await;
        waited.unwrap();
        assert!(used >= Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn the_targets_count_wins_when_others_spent_the_budget() {
        let b = budgets(10, 60);
        let ticket = b.acquire("/api/v1/auth/login").await.unwrap();
        // Someone else behind the same address spent all but one.
        assert_eq!(
            b.observe(
                &ticket,
                StatusCode::OK,
                &headers(&[("ratelimit", "\"auth\";r=1;t=30")])
            ),
            Refusal::Admitted
        );
        b.acquire("/api/v1/auth/login").await.unwrap();
        let (third, _) =
            WaitAccount::run(Duration::from_secs(1), b.acquire("/api/v1/auth/login")).await;
        assert!(third.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn many_cases_waiting_at_once_count_once() {
        let account = WaitAccount::new(Duration::from_secs(10));
        let a = account.enter();
        let b = account.enter();
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(a);
        drop(b);
        assert_eq!(account.used(), Duration::from_secs(3));
    }

    #[test]
    fn a_429_to_a_path_no_published_category_limits_is_an_answer() {
        let document = json!({"rate_limits": {"policies": {
            "auth": {"max_requests": 1, "window_seconds": 60, "path_prefixes": ["/a/"]}}}});
        let described = Budgets {
            published: true,
            ..Budgets::new(categories_of(&document), true)
        };
        let refused = headers(&[("retry-after", "3")]);
        let ticket = Ticket::unpaced();
        assert_eq!(
            described.observe(&ticket, StatusCode::TOO_MANY_REQUESTS, &refused),
            Refusal::Admitted
        );
        // Without a discovery document every 429 is the target refusing the suite.
        assert!(matches!(
            Budgets::unpublished().observe(&ticket, StatusCode::TOO_MANY_REQUESTS, &refused),
            Refusal::Refused { .. }
        ));
    }

    #[tokio::test]
    async fn unpaced_budgets_send_at_once() {
        let document = json!({"rate_limits": {"policies": {
            "auth": {"max_requests": 1, "window_seconds": 60, "path_prefixes": ["/a/"]}}}});
        let b = Budgets::new(categories_of(&document), false);
        for _ in 0..5 {
            b.acquire("/a/x").await.unwrap();
        }
    }
}
