//! Builds the WASM client (`reference/client`) for `wasm32-unknown-unknown` so the server can
//! serve the client it was built with (`GET /_dx/client.wasm`).
//!
//! The client is built by a nested `cargo build` into a target directory of its own under
//! `OUT_DIR`, with the outer build's flags removed (coverage instrumentation or a linker
//! chosen for the host must not reach a `wasm32` build). Without the `wasm32-unknown-unknown`
//! target (`rustup target add wasm32-unknown-unknown`) the server is built without a client:
//! it then publishes none, and the suite's client checks report "not verified". With the
//! target installed, a client that does not compile fails the server's build: it is a broken
//! client, not a missing one (a mutation run must see such a mutant as unviable, not as a
//! server without a client). The script watches the compiler's `lib/rustlib` directory, so a
//! server built without a client is rebuilt with one by the next `cargo build` after
//! `rustup target add wasm32-unknown-unknown` (no `cargo clean`). An embedded reference built
//! without a client makes the suite's client checks fail with that fix, never "not verified".
//! `DX_CLIENT_WASM=path` uses a prebuilt module instead.
//!
//! Each module is then shrunk by binaryen's `wasm-opt -Oz`, as `wasm-pack` does for a
//! release: that is what brings the client under its 8 KiB budget (spec/client-abi.md). If
//! `wasm-opt` is not on the `PATH` (`apt-get install binaryen`) the module is served as rustc
//! built it, a warning says so, and the build fails when `DX_REQUIRE_WASM_OPT` is set (CI).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.join("../..");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    for watched in [
        "reference/client/src",
        "reference/client/Cargo.toml",
        "reference/htip/src",
        "reference/htip/Cargo.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    // Adding (or removing) the wasm32 target changes the sysroot's `lib/rustlib` (rustup
    // creates `wasm32-unknown-unknown/` there and rewrites `components`): the client is then
    // built on the next build. Watching the target's own directory would not do: a path that
    // does not exist makes cargo run the script on every build.
    if let Some(rustlib) = sysroot().map(|s| s.join("lib/rustlib"))
        && rustlib.is_dir()
    {
        println!("cargo:rerun-if-changed={}", rustlib.display());
    }
    println!("cargo:rerun-if-env-changed=DX_CLIENT_WASM");
    println!("cargo:rerun-if-env-changed=DX_REQUIRE_WASM_OPT");
    let built = match std::env::var_os("DX_CLIENT_WASM") {
        Some(path) => Ok(PathBuf::from(path)),
        None => build_client(&root, &out, None),
    };
    let failed = built.is_err();
    write(&out.join("dx_client.wasm"), built, "its WASM client");
    // The deliberately broken clients, for the mutant tests (the `mutants` feature only).
    let mutants = std::env::var_os("CARGO_FEATURE_MUTANTS").is_some() && !failed;
    for mutant in MUTANTS {
        let built = if mutants {
            build_client(&root, &out, Some(mutant))
        } else {
            Err(String::new())
        };
        write(&out.join(format!("dx_client_{mutant}.wasm")), built, mutant);
    }
}

/// The client's mutant features (reference/client/Cargo.toml), without the `mutant-` prefix.
const MUTANTS: [&str; 4] = [
    "trusts-length",
    "truncated-ok",
    "overlapping-alloc",
    "any-base",
];

/// Writes the module at `built` to `dest`, or an empty file (no such client) with a warning.
fn write(dest: &Path, built: Result<PathBuf, String>, what: &str) {
    let bytes = built.and_then(|path| {
        std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))
    });
    let bytes = bytes.unwrap_or_else(|reason| {
        if !reason.is_empty() {
            println!("cargo:warning=dx-server is built without {what}: {reason}");
        }
        Vec::new()
    });
    if let Err(e) = std::fs::write(dest, bytes) {
        println!("cargo:warning=could not write {}: {e}", dest.display());
    }
}

fn build_client(root: &Path, out: &Path, mutant: Option<&str>) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // One target directory for every variant: builds run one after another and each
    // module is copied out before the next build replaces it; dependencies are built once.
    let target_dir = out.join("client-target");
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--quiet",
            "--locked",
            "-p",
            "dx-client",
            "--target",
            "wasm32-unknown-unknown",
            "--profile",
            "wasm",
            "--target-dir",
        ])
        .arg(&target_dir);
    if let Some(m) = mutant {
        command.args(["--features", &format!("dx-client/mutant-{m}")]);
    }
    for inherited in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "LLVM_PROFILE_FILE",
    ] {
        command.env_remove(inherited);
    }
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_TARGET_")
            && (key.ends_with("_RUSTFLAGS") || key.ends_with("_LINKER"))
        {
            command.env_remove(key.as_ref());
        }
    }
    if !wasm_target_installed() {
        return Err(
            "the wasm32-unknown-unknown target is not installed (rustup target add wasm32-unknown-unknown)"
                .into(),
        );
    }
    let status = command
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !status.success() {
        // Start-up code of the build: a client that does not compile stops it, with the
        // compiler's errors above.
        panic!(
            "the WASM client{} does not compile: `cargo build -p dx-client --target wasm32-unknown-unknown` failed ({status})",
            mutant.map(|m| format!(" (mutant-{m})")).unwrap_or_default()
        );
    }
    let built = target_dir.join("wasm32-unknown-unknown/wasm/dx_client.wasm");
    let optimized = out.join(format!(
        "dx_client_{}.opt.wasm",
        mutant.unwrap_or("release")
    ));
    optimize(&built, &optimized)
}

/// Whether the compiler has the standard library for `wasm32-unknown-unknown`: rustup puts it
/// under the sysroot's `lib/rustlib/wasm32-unknown-unknown`.
fn wasm_target_installed() -> bool {
    sysroot().is_some_and(|s| s.join("lib/rustlib/wasm32-unknown-unknown").is_dir())
}

/// The sysroot of the compiler cargo builds with (`rustc --print sysroot`).
fn sysroot() -> Option<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
}

/// The WebAssembly features rustc enables for `wasm32-unknown-unknown` (and wasmi runs):
/// `wasm-opt` must accept them and may use nothing else. Also in `reference/client/release.sh`.
const WASM_FEATURES: [&str; 6] = [
    "--enable-bulk-memory",
    "--enable-sign-ext",
    "--enable-mutable-globals",
    "--enable-nontrapping-float-to-int",
    "--enable-multivalue",
    "--enable-reference-types",
];

/// `wasm-opt -Oz` of `built` into `optimized`; `built` itself when there is no `wasm-opt`.
fn optimize(built: &Path, optimized: &Path) -> Result<PathBuf, String> {
    let run = Command::new("wasm-opt")
        .arg("-Oz")
        .args(WASM_FEATURES)
        .arg(built)
        .arg("-o")
        .arg(optimized)
        .status();
    match run {
        Ok(status) if status.success() => Ok(optimized.to_path_buf()),
        Ok(status) => Err(format!("wasm-opt failed ({status})")),
        Err(e) if std::env::var_os("DX_REQUIRE_WASM_OPT").is_some() => {
            eprintln!(
                "DX_REQUIRE_WASM_OPT is set but wasm-opt could not run ({e}); apt-get install binaryen"
            );
            std::process::exit(1);
        }
        Err(_) => {
            println!(
                "cargo:warning=wasm-opt not found (apt-get install binaryen): the client is served as rustc built it, over its 8 KiB budget"
            );
            Ok(built.to_path_buf())
        }
    }
}
