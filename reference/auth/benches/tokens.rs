//! What the auth hot paths cost, each next to a peer measured in the same run, so the printed
//! numbers are ratios that mean something on any machine:
//!
//! - `token_verify`: [`TokenGenerator::verify_text`] of a fresh access token (`ours`: split,
//!   base64url, footer and claims JSON, key lookup, PAE, signature, expiry) against the bare
//!   primitive, `ed25519_dalek::VerifyingKey::verify_strict` over exactly the same signed bytes
//!   with the same key (`raw_ed25519`). Every authenticated request pays `ours`; the goal is
//!   that everything around the signature costs under 10% of the signature itself.
//! - `password`: Argon2id with OWASP's parameters (m=19456 KiB, t=2, p=1), hash and verify.
//!   One verify is the CPU price of one login, so its time gives logins/second per core.
//!
//! Criterion measures each benchmark on its own; after it, a summary measured here (interleaved
//! timed loops, best of 40 short rounds) prints the ratios, since criterion does not hand its
//! estimates back to the program. The summary runs only in benchmark mode (`cargo bench`), not
//! under `cargo test --benches` or `--list`, and honours a filter given as a plain substring.
//!
//! Run: `cargo bench -p dx-auth --bench tokens`.

// A benchmark is a test program: a failed setup should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use criterion::{Criterion, SamplingMode};
use dx_auth::paseto::{signed_bytes, split};
use dx_auth::{KeyRing, PasswordHasher, SystemClock, TokenGenerator, TokenType};
use dx_bench_record::{Figure, Goal};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};

const PASSWORD: &str = "correct horse battery staple";

/// A token, the generator that verifies it, and the raw-primitive view of the same token.
struct TokenFixture {
    generator: TokenGenerator,
    token: String,
    key: VerifyingKey,
    message: Vec<u8>,
    signature: Signature,
}

impl TokenFixture {
    fn new() -> Self {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let key = signing.verifying_key();
        let generator =
            TokenGenerator::new(KeyRing::new(signing), 900, 86_400, Arc::new(SystemClock));
        let token = generator.generate_access("user-0001").unwrap().to_wire();
        let parts = split(&token).expect("a token we just minted splits");
        let message = signed_bytes(&parts.payload, &parts.footer);
        let signature = Signature::from_bytes(&parts.signature);
        let fixture = Self {
            generator,
            token,
            key,
            message,
            signature,
        };
        // Both paths must succeed, or the comparison measures an early exit.
        assert!(fixture.ours().is_ok());
        assert!(fixture.raw());
        fixture
    }

    fn ours(&self) -> Result<dx_auth::AuthToken, dx_auth::AuthError> {
        self.generator
            .verify_text(black_box(&self.token), TokenType::Access)
    }

    fn raw(&self) -> bool {
        self.key
            .verify_strict(black_box(&self.message), black_box(&self.signature))
            .is_ok()
    }
}

fn bench_token_verify(c: &mut Criterion, fixture: &TokenFixture) {
    let mut group = c.benchmark_group("token_verify");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("ours", |b| b.iter(|| fixture.ours()));
    group.bench_function("raw_ed25519", |b| b.iter(|| fixture.raw()));
    group.finish();
}

fn bench_password(c: &mut Criterion, hasher: &PasswordHasher, hash: &str) {
    let mut group = c.benchmark_group("password");
    // Tens of milliseconds per iteration: few samples, one iteration count for all of them.
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("owasp_hash", |b| {
        b.iter(|| hasher.hash(black_box(PASSWORD)).unwrap())
    });
    group.bench_function("owasp_verify", |b| {
        b.iter(|| hasher.verify(black_box(PASSWORD), black_box(hash)).unwrap())
    });
    group.finish();
}

/// Seconds per call of `f`, timed over `iterations` calls.
fn per_call(iterations: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    start.elapsed().as_secs_f64() / f64::from(iterations)
}

fn summarise_token_verify(fixture: &TokenFixture) {
    // Many short interleaved rounds rather than a few long ones: on a shared machine a short
    // round is more likely to run undisturbed, so the best of each path is closer to its true
    // cost, and the two rounds of a pair see the same machine state.
    const ITERATIONS: u32 = 2_000;
    const ROUNDS: usize = 40;
    let mut ours = f64::INFINITY;
    let mut raw = f64::INFINITY;
    let mut ratios = Vec::with_capacity(ROUNDS);
    let time_ours = || {
        per_call(ITERATIONS, || {
            black_box(fixture.ours()).unwrap();
        })
    };
    let time_raw = || {
        per_call(ITERATIONS, || {
            assert!(black_box(fixture.raw()));
        })
    };
    for round in 0..ROUNDS {
        // Alternate which path goes first, so neither always follows the other.
        let (o, r) = if round % 2 == 0 {
            let o = time_ours();
            (o, time_raw())
        } else {
            let r = time_raw();
            (time_ours(), r)
        };
        ours = ours.min(o);
        raw = raw.min(r);
        ratios.push(o / r);
    }
    ratios.sort_by(f64::total_cmp);
    let overhead = (ours / raw - 1.0) * 100.0;
    let paired = (ratios[ROUNDS / 2] - 1.0) * 100.0;
    println!(
        "token_verify: ours {:.2} µs, raw ed25519 {:.2} µs, overhead {overhead:.1}% (goal < 10%) \
         [best of {ROUNDS} interleaved rounds of {ITERATIONS}; median paired-round overhead {paired:.1}%]",
        ours * 1e6,
        raw * 1e6,
    );
    Figure::lower_is_better("token verify", "µs")
        .ours("TokenGenerator::verify_text", ours * 1e6)
        .peer("VerifyingKey::verify_strict", raw * 1e6)
        .goal(
            Goal::RatioAtMost(1.10),
            "everything around the signature under 10 % of it",
        )
        .note(format!(
            "best of {ROUNDS} interleaved rounds; median paired overhead {paired:.1} %"
        ))
        .record()
        .expect("the results file is writable");
}

fn summarise_password(hasher: &PasswordHasher, hash: &str) {
    const CALLS: usize = 10;
    let median = |mut times: Vec<f64>| {
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    // The peer: the argon2 crate called directly with the same parameters, so the ratio is
    // what our hasher adds (NFC normalisation, PHC parsing, errors).
    let raw = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT);
    let raw_hash = PasswordHash::new(hash).unwrap();
    let mut hashes = Vec::with_capacity(CALLS);
    let mut verifies = Vec::with_capacity(CALLS);
    let mut raw_hashes = Vec::with_capacity(CALLS);
    let mut raw_verifies = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        hashes.push(per_call(1, || {
            black_box(hasher.hash(black_box(PASSWORD)).unwrap());
        }));
        raw_hashes.push(per_call(1, || {
            black_box(raw.hash_password(black_box(PASSWORD.as_bytes())).unwrap());
        }));
        verifies.push(per_call(1, || {
            assert!(hasher.verify(black_box(PASSWORD), black_box(hash)).unwrap());
        }));
        raw_verifies.push(per_call(1, || {
            raw.verify_password(black_box(PASSWORD.as_bytes()), &raw_hash)
                .unwrap();
        }));
    }
    let (hash_time, verify_time) = (median(hashes), median(verifies));
    let (raw_hash_time, raw_verify_time) = (median(raw_hashes), median(raw_verifies));
    for (figure, ours, peer) in [
        ("password hash", hash_time, raw_hash_time),
        ("password verify", verify_time, raw_verify_time),
    ] {
        Figure::lower_is_better(figure, "ms")
            .ours("PasswordHasher (Argon2id, OWASP)", ours * 1e3)
            .peer("argon2 crate, same parameters", peer * 1e3)
            .goal(
                Goal::RatioAtMost(1.05),
                "within 5 % of the bare argon2 call",
            )
            .note(format!("median of {CALLS}"))
            .record()
            .expect("the results file is writable");
    }
    let cost = hasher.cost();
    println!(
        "password: owasp hash {:.1} ms, verify {:.1} ms (median of {CALLS}; Argon2id m={} KiB, t={}, p={}) => {:.1} logins/s per core",
        hash_time * 1e3,
        verify_time * 1e3,
        cost.memory_kib,
        cost.iterations,
        cost.parallelism,
        1.0 / verify_time,
    );
    println!(
        "password: the argon2 crate alone, same parameters: hash {:.1} ms, verify {:.1} ms",
        raw_hash_time * 1e3,
        raw_verify_time * 1e3
    );
}

/// How this process was started: whether the summary should run, and for which groups.
struct Invocation {
    benchmarking: bool,
    filter: Option<String>,
}

impl Invocation {
    /// Reads the arguments criterion reads (`cargo bench` passes `--bench`; `cargo test
    /// --benches` does not). The filter is criterion's first positional argument.
    fn from_args() -> Self {
        const TAKES_VALUE: &[&str] = &[
            "-c",
            "--color",
            "--colour",
            "-s",
            "--save-baseline",
            "-b",
            "--baseline",
            "--baseline-lenient",
            "--format",
            "--profile-time",
            "--load-baseline",
            "--sample-size",
            "--warm-up-time",
            "--measurement-time",
            "--nresamples",
            "--noise-threshold",
            "--confidence-level",
            "--significance-level",
            "--plotting-backend",
            "--output-format",
        ];
        let args: Vec<String> = std::env::args().skip(1).collect();
        let has = |flag: &str| {
            args.iter()
                .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
        };
        let mut filter = None;
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            if TAKES_VALUE.contains(&arg.as_str()) {
                iter.next();
            } else if !arg.starts_with('-') && filter.is_none() {
                filter = Some(arg.clone());
            }
        }
        Self {
            benchmarking: has("--bench")
                && !has("--test")
                && !has("--list")
                && !has("--profile-time")
                && !has("--ignored"),
            filter,
        }
    }

    /// Whether any of `ids` passes the filter.
    fn wants(&self, ids: &[&str]) -> bool {
        self.benchmarking
            && self
                .filter
                .as_deref()
                .is_none_or(|f| ids.iter().any(|id| id.contains(f)))
    }
}

fn main() {
    let invocation = Invocation::from_args();
    let fixture = TokenFixture::new();
    let hasher = PasswordHasher::owasp();
    let hash = hasher.hash(PASSWORD).unwrap();

    let mut criterion = Criterion::default().configure_from_args();
    bench_token_verify(&mut criterion, &fixture);
    bench_password(&mut criterion, &hasher, &hash);
    criterion.final_summary();

    let tokens = invocation.wants(&["token_verify/ours", "token_verify/raw_ed25519"]);
    let passwords = invocation.wants(&["password/owasp_hash", "password/owasp_verify"]);
    if tokens || passwords {
        println!("\nsummary (own timed loops, same process):");
    }
    if tokens {
        summarise_token_verify(&fixture);
    }
    if passwords {
        summarise_password(&hasher, &hash);
    }
}
