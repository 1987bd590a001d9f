//! How large and how fast our DXDP patches (`spec/delta.md`) are, next to the delta tools a
//! server could use instead, in the same run on the same files, so the ratios mean something
//! on any machine:
//!
//! - real version pairs of shipped JavaScript (`three` 0.151.0 to 0.152.0, `three.module.js`;
//!   `react-dom` 18.2.0 to 18.3.1, the minified UMD build), fetched by
//!   `benches/fetch-assets.sh` into `target/bench-assets/`;
//! - ours: [`delta::diff`]'s patch raw, after gzip -9 and after brotli quality 11 (what HTTP
//!   compression would send), the median time to generate and to apply it ([`delta::apply`]),
//!   checked to yield exactly the target, whose hash the patch names;
//! - peers, run as programs on temporary files: `zstd --patch-from` at `-19 --long=27` and
//!   `--ultra -22 --long=27` (the smaller is the reference), `xdelta3 -9` and `bsdiff`, each
//!   output already compressed, each decoded back and checked; and the whole target raw, gzip
//!   -9 and brotli 11, what a client without the base downloads. Goal (issue: delta patches):
//!   ours after brotli within 1.5x of `zstd --patch-from`.
//! - the WASM client as rustc builds it and as it ships after `wasm-opt -Oz`
//!   (`reference/client/release.sh`), raw and after brotli 11, next to the 8 KiB budget and
//!   dx-www's published 17.2 KB raw / 7.5 KB brotli for its full client.
//!
//! Times are medians of several runs and only informative; nothing is asserted about them.
//!
//! Run: `reference/htip/benches/fetch-assets.sh` (npm), `apt-get install zstd xdelta3 bsdiff`,
//! `reference/client/release.sh` (binaryen's `wasm-opt`), then
//! `cargo bench -p dx-htip --bench patch_size`. Without `--bench` (as `cargo test --benches`
//! runs it) it prints this hint and does nothing.

// A benchmark is a test program: a failed setup should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dx_bench_record::{Figure, Goal};
use dx_htip::delta;
use dx_htip::reader::Reader;

/// Runs of our generator and applier; the median is printed.
const OUR_RUNS: usize = 9;
/// Runs of each peer program (each run forks a process and writes files).
const PEER_RUNS: usize = 3;
/// The goal: ours after brotli at most this many times zstd's patch.
const GOAL: f64 = 1.5;
/// dx-www's published size of its full client.
const DX_WWW_CLIENT_RAW: usize = 17_200;
const DX_WWW_CLIENT_BROTLI: usize = 7_500;
const NOT_INSTALLED: &str = "not installed (apt-get install zstd xdelta3 bsdiff)";

/// A base and a target, as named in `target/bench-assets/`.
struct Pair {
    name: &'static str,
    base: &'static str,
    target: &'static str,
}

const PAIRS: [Pair; 2] = [
    Pair {
        name: "three 0.151.0 -> 0.152.0 (three.module.js)",
        base: "three-0.151.0.module.js",
        target: "three-0.152.0.module.js",
    },
    Pair {
        name: "react-dom 18.2.0 -> 18.3.1 (react-dom.production.min.js)",
        base: "react-dom-18.2.0.production.min.js",
        target: "react-dom-18.3.1.production.min.js",
    },
];

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "patch_size: run it with `cargo bench -p dx-htip --bench patch_size` \
             (after reference/htip/benches/fetch-assets.sh); skipped without --bench"
        );
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let assets = target_dir.join("bench-assets");
    if assets_ready(&assets) || (fetch(&root) && assets_ready(&assets)) {
        let scratch =
            std::env::temp_dir().join(format!("dx-htip-patch-size-{}", std::process::id()));
        fs::create_dir_all(&scratch).unwrap();
        let mut ratios = Vec::new();
        for pair in &PAIRS {
            if let Some(ratio) = measure(pair, &assets, &scratch) {
                ratios.push((pair.name, ratio));
            }
        }
        fs::remove_dir_all(&scratch).unwrap();
        println!(
            "\nsummary: ours after brotli 11 / smallest zstd --patch-from (goal at most {GOAL}x)"
        );
        for (name, ratio) in ratios {
            let verdict = if ratio <= GOAL { "met" } else { "missed" };
            println!("  {name}: {ratio:.2}x, {verdict}");
        }
    } else {
        println!(
            "patch_size: the version pairs are not in {}; fetch them with \
             reference/htip/benches/fetch-assets.sh (needs npm and the npm registry)",
            assets.display()
        );
    }
    client_size(&target_dir);
}

fn assets_ready(assets: &Path) -> bool {
    PAIRS
        .iter()
        .flat_map(|p| [p.base, p.target])
        .all(|f| assets.join(f).is_file())
}

/// Runs the fetch script; whether it succeeded.
fn fetch(root: &Path) -> bool {
    let script = root.join("reference/htip/benches/fetch-assets.sh");
    println!("fetching the version pairs: {}", script.display());
    match Command::new("bash").arg(&script).status() {
        Ok(status) => status.success(),
        Err(e) => {
            println!("could not run {}: {e}", script.display());
            false
        }
    }
}

/// One row of the table.
struct Row {
    what: String,
    size: Option<usize>,
    make: Option<Duration>,
    undo: Option<Duration>,
    note: String,
}

impl Row {
    fn size(what: &str, size: usize) -> Self {
        Self {
            what: what.to_owned(),
            size: Some(size),
            make: None,
            undo: None,
            note: String::new(),
        }
    }

    fn missing(what: &str, note: &str) -> Self {
        Self {
            what: what.to_owned(),
            size: None,
            make: None,
            undo: None,
            note: note.to_owned(),
        }
    }
}

/// Measures one pair and prints its table; ours after brotli over the smallest zstd patch.
fn measure(pair: &Pair, assets: &Path, scratch: &Path) -> Option<f64> {
    let base_path = assets.join(pair.base);
    let target_path = assets.join(pair.target);
    let base = fs::read(&base_path).unwrap();
    let target = fs::read(&target_path).unwrap();
    println!(
        "\n== {}\n   base {} bytes, target {} bytes",
        pair.name,
        base.len(),
        target.len()
    );

    let mut rows = Vec::new();

    // Ours.
    let (patch, make) = median(OUR_RUNS, || delta::diff(&base, &target).unwrap());
    let (applied, undo) = median(OUR_RUNS, || {
        delta::apply(&base, &patch, target.len()).unwrap()
    });
    assert!(applied == target, "our patch does not yield the target");
    let header = delta::PatchHeader::read(&patch).unwrap();
    assert_eq!(header.target_hash, delta::hash(&target), "target hash");
    assert_eq!(delta::hash(&applied), delta::hash(&target), "applied hash");
    assert_eq!(header.base_hash, delta::hash(&base), "base hash");
    let stats = Stats::of(&patch);
    let ours_brotli = brotli11(&patch).len();
    rows.push(Row {
        what: "ours (DXDP) raw".to_owned(),
        size: Some(patch.len()),
        make: Some(make),
        undo: Some(undo),
        note: format!(
            "{} copies, {} inserts, {} literal bytes; applies to the target, hash {}",
            stats.copies,
            stats.inserts,
            stats.literal_bytes,
            delta::hash_hex(&target)
        ),
    });
    rows.push(Row::size("ours + gzip -9", gzip9(&patch).len()));
    rows.push(Row::size("ours + brotli 11", ours_brotli));

    // zstd, both strong settings; the smaller is the reference.
    let mut zstd_best: Option<usize> = None;
    for (what, level) in [
        ("zstd -19 --long=27 --patch-from", &["-19"][..]),
        (
            "zstd --ultra -22 --long=27 --patch-from",
            &["--ultra", "-22"][..],
        ),
    ] {
        let out = scratch.join("zstd.patch");
        let dec = scratch.join("zstd.out");
        let patch_from = format!("--patch-from={}", base_path.display());
        let row = peer(
            what,
            &target,
            &out,
            &dec,
            || {
                let mut c = Command::new("zstd");
                c.args(["-q", "-f", "--long=27"])
                    .args(level)
                    .arg(&patch_from)
                    .arg(&target_path)
                    .arg("-o")
                    .arg(&out);
                c
            },
            || {
                let mut c = Command::new("zstd");
                c.args(["-q", "-d", "-f", "--long=27"])
                    .arg(&patch_from)
                    .arg(&out)
                    .arg("-o")
                    .arg(&dec);
                c
            },
        );
        if let Some(size) = row.size {
            zstd_best = Some(zstd_best.map_or(size, |b| b.min(size)));
        }
        rows.push(row);
    }

    // xdelta3.
    let out = scratch.join("xdelta3.patch");
    let dec = scratch.join("xdelta3.out");
    rows.push(peer(
        "xdelta3 -9",
        &target,
        &out,
        &dec,
        || {
            let mut c = Command::new("xdelta3");
            c.args(["-9", "-e", "-f", "-s"])
                .arg(&base_path)
                .arg(&target_path)
                .arg(&out);
            c
        },
        || {
            let mut c = Command::new("xdelta3");
            c.args(["-d", "-f", "-s"])
                .arg(&base_path)
                .arg(&out)
                .arg(&dec);
            c
        },
    ));

    // bsdiff.
    let out = scratch.join("bsdiff.patch");
    let dec = scratch.join("bsdiff.out");
    rows.push(peer(
        "bsdiff (bzip2 inside)",
        &target,
        &out,
        &dec,
        || {
            let mut c = Command::new("bsdiff");
            c.arg(&base_path).arg(&target_path).arg(&out);
            c
        },
        || {
            let mut c = Command::new("bspatch");
            c.arg(&base_path).arg(&dec).arg(&out);
            c
        },
    ));

    // The whole target.
    rows.push(Row::size("full target raw", target.len()));
    rows.push(Row::size("full target + gzip -9", gzip9(&target).len()));
    rows.push(Row::size(
        "full target + brotli 11",
        brotli11(&target).len(),
    ));

    print_table(&rows, target.len());

    for (peer, prefix) in [
        ("xdelta3 -9", "xdelta3"),
        ("bsdiff", "bsdiff"),
        ("the whole target after brotli 11", "full target + brotli"),
    ] {
        if let Some(size) = rows
            .iter()
            .find(|r| r.what.starts_with(prefix))
            .and_then(|r| r.size)
        {
            Figure::lower_is_better("patch size", "bytes")
                .group(pair.name)
                .ours("DXDP after brotli 11", ours_brotli as f64)
                .peer(peer, size as f64)
                .record()
                .expect("the results file is writable");
        }
    }
    let zstd = zstd_best?;
    let ratio = ours_brotli as f64 / zstd as f64;
    Figure::lower_is_better("patch size", "bytes")
        .group(pair.name)
        .ours("DXDP after brotli 11", ours_brotli as f64)
        .peer("the smaller zstd --patch-from", zstd as f64)
        .goal(Goal::RatioAtMost(GOAL), format!("at most {GOAL}x zstd"))
        .record()
        .expect("the results file is writable");
    println!(
        "   ours after brotli / zstd --patch-from: {ours_brotli} / {zstd} = {ratio:.2}x (goal at most {GOAL}x)"
    );
    Some(ratio)
}

/// Runs a peer's encoder and decoder [`PEER_RUNS`] times each and checks what it decoded.
fn peer(
    what: &str,
    target: &[u8],
    out: &Path,
    dec: &Path,
    encode: impl Fn() -> Command,
    decode: impl Fn() -> Command,
) -> Row {
    let mut make = Vec::new();
    for _ in 0..PEER_RUNS {
        match run(encode()) {
            Ok(took) => make.push(took),
            Err(RunError::NotInstalled) => return Row::missing(what, NOT_INSTALLED),
            Err(RunError::Failed(why)) => return Row::missing(what, &format!("failed: {why}")),
        }
    }
    let size = fs::metadata(out).unwrap().len() as usize;
    let mut undo = Vec::new();
    for _ in 0..PEER_RUNS {
        match run(decode()) {
            Ok(took) => undo.push(took),
            Err(RunError::NotInstalled) => return Row::missing(what, NOT_INSTALLED),
            Err(RunError::Failed(why)) => {
                return Row::missing(what, &format!("decoding failed: {why}"));
            }
        }
    }
    let decoded = fs::read(dec).unwrap();
    let note = if decoded == target {
        "decodes to the target".to_owned()
    } else {
        "DECODES TO SOMETHING ELSE".to_owned()
    };
    Row {
        what: what.to_owned(),
        size: Some(size),
        make: Some(middle(make)),
        undo: Some(middle(undo)),
        note,
    }
}

enum RunError {
    NotInstalled,
    Failed(String),
}

/// Runs `command` to completion: how long it took.
fn run(mut command: Command) -> Result<Duration, RunError> {
    let start = Instant::now();
    let output = command.output().map_err(|e| match e.kind() {
        ErrorKind::NotFound => RunError::NotInstalled,
        _ => RunError::Failed(e.to_string()),
    })?;
    let took = start.elapsed();
    if output.status.success() {
        Ok(took)
    } else {
        Err(RunError::Failed(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

fn print_table(rows: &[Row], target_len: usize) {
    println!(
        "   {:<42} {:>10} {:>9} {:>12} {:>12}  notes",
        "", "bytes", "% target", "make (ms)", "apply (ms)"
    );
    for row in rows {
        let size = row.size.map_or("-".to_owned(), |s| s.to_string());
        let share = row.size.map_or("-".to_owned(), |s| {
            format!("{:.2}", 100.0 * s as f64 / target_len as f64)
        });
        let ms = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.2}", millis(d)));
        println!(
            "   {:<42} {:>10} {:>9} {:>12} {:>12}  {}",
            row.what,
            size,
            share,
            ms(row.make),
            ms(row.undo),
            row.note
        );
    }
}

/// The client's size against dx-www's.
fn client_size(target_dir: &Path) {
    let dir = target_dir.join("wasm32-unknown-unknown/wasm");
    println!("\n== the WASM client ({})", dir.display());
    let read = |name: &str| fs::read(dir.join(name)).ok();
    let (Some(built), Some(shipped)) = (read("dx_client.wasm"), read("dx_client.opt.wasm")) else {
        println!("   not built: reference/client/release.sh");
        return;
    };
    for (what, bytes) in [("rustc", &built), ("shipped (wasm-opt -Oz)", &shipped)] {
        println!(
            "   {what}: {} bytes raw ({:.1} KB), {} gzip -9, {} brotli 11",
            bytes.len(),
            bytes.len() as f64 / 1000.0,
            gzip9(bytes).len(),
            brotli11(bytes).len()
        );
    }
    let brotli = brotli11(&shipped).len();
    println!(
        "   shipped: {:.0} % of the 8 KiB budget; dx-www's full client: {:.1} KB raw, {:.1} KB brotli; ours is {:.2}x raw, {:.2}x brotli",
        shipped.len() as f64 / 8192.0 * 100.0,
        DX_WWW_CLIENT_RAW as f64 / 1000.0,
        DX_WWW_CLIENT_BROTLI as f64 / 1000.0,
        shipped.len() as f64 / DX_WWW_CLIENT_RAW as f64,
        brotli as f64 / DX_WWW_CLIENT_BROTLI as f64
    );
}

/// What a patch is made of.
struct Stats {
    copies: usize,
    inserts: usize,
    literal_bytes: usize,
}

impl Stats {
    fn of(patch: &[u8]) -> Self {
        let mut stats = Self {
            copies: 0,
            inserts: 0,
            literal_bytes: 0,
        };
        let mut r = Reader::new(patch);
        r.bytes(delta::HEADER_LEN);
        loop {
            let code = r.u8();
            r.status().unwrap();
            match code {
                delta::opcode::END => return stats,
                delta::opcode::COPY => {
                    r.varint();
                    r.varint();
                    stats.copies += 1;
                }
                delta::opcode::INSERT => {
                    let len = usize::try_from(r.varint()).unwrap();
                    r.bytes(len);
                    stats.inserts += 1;
                    stats.literal_bytes += len;
                }
                other => panic!("unknown opcode {other}"),
            }
            r.status().unwrap();
        }
    }
}

fn gzip9(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Brotli at quality 11 with the library's default window (22 bits, 4 MiB), as a server
/// precompressing static assets would.
fn brotli11(data: &[u8]) -> Vec<u8> {
    let params = brotli::enc::BrotliEncoderParams {
        quality: 11,
        lgwin: 22,
        ..Default::default()
    };
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &data[..], &mut out, &params).unwrap();
    out
}

/// Runs `f` `runs` times: its last result and the median time.
fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> (T, Duration) {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let value = std::hint::black_box(f());
        times.push(start.elapsed());
        last = Some(value);
    }
    (last.unwrap(), middle(times))
}

fn middle(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
