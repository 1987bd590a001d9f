//! What the run observed: every HTTP answer by route, status and error code with its
//! latency and time, the documented codes (`spec/error-codes.toml`), the fault windows, and
//! the judgement of 5xx answers against them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The error-code table of `spec/error-codes.toml`: wire string to HTTP status.
pub fn documented_codes() -> HashMap<String, u16> {
    const TABLE: &str = include_str!("../../../spec/error-codes.toml");
    let mut codes = HashMap::new();
    let mut wire = None;
    for line in TABLE.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("wire = ") {
            wire = Some(v.trim_matches('"').to_owned());
        } else if let Some(v) = line.strip_prefix("http_status = ")
            && let (Some(w), Ok(status)) = (wire.take(), v.parse())
        {
            codes.insert(w, status);
        }
    }
    codes
}

/// The sync numbers of `spec/error-codes.toml` (`ERROR`/`NACK` frames carry numbers).
pub fn documented_numbers() -> HashMap<u16, String> {
    const TABLE: &str = include_str!("../../../spec/error-codes.toml");
    let mut numbers = HashMap::new();
    let mut number = None;
    for line in TABLE.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("number = ") {
            number = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("wire = ")
            && let Some(n) = number.take()
        {
            numbers.insert(n, v.trim_matches('"').to_owned());
        }
    }
    numbers
}

/// One route's tally.
#[derive(Debug, Default)]
pub struct Route {
    pub count: u64,
    pub statuses: BTreeMap<u16, u64>,
    /// `status code` (e.g. `503 DB_CONNECTION_FAILED`) for every answer ≥ 400.
    pub codes: BTreeMap<String, u64>,
    /// Failures without an HTTP answer, by kind.
    pub transport: BTreeMap<String, u64>,
    /// Latencies of answered requests, in microseconds.
    pub latencies: Vec<u32>,
}

/// A 5xx answer, an undocumented code, or a mismatched status: judged at the end.
#[derive(Debug, Clone)]
pub struct Notable {
    pub at: Duration,
    pub route: &'static str,
    pub instance: usize,
    pub status: u16,
    pub code: String,
    pub provoked: bool,
}

/// A fault the driver caused: from `start` to `end` (the service back, or the instance
/// gone), named.
#[derive(Debug, Clone)]
pub struct Window {
    pub name: String,
    pub start: Duration,
    pub end: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    routes: BTreeMap<&'static str, Route>,
    notable: Vec<Notable>,
    windows: Vec<Window>,
    /// Per second of the run: (2xx/3xx, 4xx, 5xx, transport) answers of the items routes.
    timeline: Vec<[u64; 4]>,
}

/// The run's tallies, shared by every task.
#[derive(Debug)]
pub struct Stats {
    pub start: Instant,
    inner: Mutex<Inner>,
    codes: HashMap<String, u16>,
}

impl Stats {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            inner: Mutex::new(Inner::default()),
            codes: documented_codes(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn documented(&self, code: &str) -> Option<u16> {
        self.codes.get(code).copied()
    }

    /// One HTTP answer.
    pub fn answer(
        &self,
        route: &'static str,
        instance: usize,
        status: u16,
        code: Option<&str>,
        latency: Duration,
        provoked: bool,
    ) {
        let at = self.elapsed();
        let mut inner = self.lock();
        let r = inner.routes.entry(route).or_default();
        r.count += 1;
        *r.statuses.entry(status).or_default() += 1;
        r.latencies
            .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
        if status >= 400 {
            let code = code.unwrap_or("(no envelope)");
            *r.codes.entry(format!("{status} {code}")).or_default() += 1;
            let fits = self.codes.get(code) == Some(&status);
            if status >= 500 || !fits {
                inner.notable.push(Notable {
                    at,
                    route,
                    instance,
                    status,
                    code: code.to_owned(),
                    provoked,
                });
            }
        }
        if route.starts_with("items.") {
            let slot = match status {
                0..400 => 0,
                400..500 => 1,
                _ => 2,
            };
            Self::tick(&mut inner, at, slot);
        }
    }

    /// A request that got no HTTP answer.
    pub fn transport(&self, route: &'static str, kind: &str) {
        let at = self.elapsed();
        let mut inner = self.lock();
        let r = inner.routes.entry(route).or_default();
        r.count += 1;
        *r.transport.entry(kind.to_owned()).or_default() += 1;
        if route.starts_with("items.") {
            Self::tick(&mut inner, at, 3);
        }
    }

    fn tick(inner: &mut Inner, at: Duration, slot: usize) {
        let second = usize::try_from(at.as_secs()).unwrap_or(usize::MAX);
        if second < 100_000 {
            if inner.timeline.len() <= second {
                inner.timeline.resize(second + 1, [0; 4]);
            }
            inner.timeline[second][slot] += 1;
        }
    }

    pub fn window(&self, window: Window) {
        self.lock().windows.push(window);
    }

    pub fn windows(&self) -> Vec<Window> {
        self.lock().windows.clone()
    }

    pub fn notable(&self) -> Vec<Notable> {
        self.lock().notable.clone()
    }

    pub fn timeline(&self) -> Vec<[u64; 4]> {
        self.lock().timeline.clone()
    }

    /// Takes the routes' tallies (at the end).
    pub fn routes(&self) -> BTreeMap<&'static str, Route> {
        std::mem::take(&mut self.lock().routes)
    }
}

/// The `p`-th percentile (0-100) of sorted microseconds, in milliseconds.
pub fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    f64::from(sorted[rank.min(sorted.len() - 1)]) / 1000.0
}

/// Least-squares slope of `(x, y)` points (y per unit of x), or 0 with fewer than two.
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    if sxx == 0.0 { 0.0 } else { sxy / sxx }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_table_is_read() {
        let codes = documented_codes();
        assert_eq!(codes.get("DB_CONNECTION_FAILED"), Some(&503));
        assert_eq!(codes.get("BAD_REQUEST"), Some(&400));
        assert_eq!(
            documented_numbers().get(&3004).map(String::as_str),
            Some("SYNC_BUFFER_OVERFLOW")
        );
    }

    #[test]
    fn slope_of_a_line() {
        let points: Vec<(f64, f64)> = (0..10)
            .map(|x| (f64::from(x), 3.0 * f64::from(x) + 1.0))
            .collect();
        assert!((slope(&points) - 3.0).abs() < 1e-9);
    }
}
