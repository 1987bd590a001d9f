//! Running one bench: what it needs, its command with the results file named, its log.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

use crate::machine::{self, Machine};
use crate::manifest::Bench;
use crate::results::{self, Stamp};

/// Where a run's logs and raw results go.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The repository's root; commands run there.
    pub root: PathBuf,
    /// `target/benchmarks/`: each bench's log and raw results.
    pub logs: PathBuf,
}

/// Runs `bench` and returns its stamped lines: what it wrote, then its `run` line.
pub fn run(bench: &Bench, at: &Workspace, machine: &Machine, commit: &str) -> Vec<Value> {
    let date = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let stamp = Stamp {
        bench: bench.id.clone(),
        machine: machine.label(),
        commit: commit.to_owned(),
        date: date.clone(),
    };
    let load_before = machine::load_average();
    let started = Instant::now();
    let log = at.logs.join(format!("{}.log", bench.id));
    let raw = at.logs.join(format!("{}.jsonl", bench.id));
    let (status, reason, exit_code, mut lines) = match missing_tools(bench) {
        Some(reason) => ("not run", Some(reason), None, Vec::new()),
        None => execute(bench, at, &log, &raw, &stamp),
    };
    let run = json!({
        "kind": "run",
        "bench": bench.id,
        "status": status,
        "reason": reason,
        "exit_code": exit_code,
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "command": bench.command,
        "log": log.strip_prefix(&at.root).unwrap_or(&log).display().to_string(),
        "load_before": load_before,
        "load_after": machine::load_average(),
        "services": {
            "postgres": std::env::var_os("DATABASE_URL").is_some_and(|v| !v.is_empty()),
            "redis": std::env::var_os("REDIS_URL").is_some_and(|v| !v.is_empty()),
        },
        "machine": stamp.machine,
        "machine_details": machine,
        "commit": stamp.commit,
        "date": date,
    });
    lines.push(run);
    lines
}

type Executed = (&'static str, Option<String>, Option<i32>, Vec<Value>);

fn execute(bench: &Bench, at: &Workspace, log: &Path, raw: &Path, stamp: &Stamp) -> Executed {
    let _ = std::fs::remove_file(raw);
    // `tee` keeps the bench's own output on the terminal and in its log.
    let script = format!(
        "set -o pipefail; {{ {} ; }} 2>&1 | tee {}",
        bench.command,
        shell_quote(&log.display().to_string())
    );
    let status = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&at.root)
        .env(dx_bench_record::RESULTS_ENV, raw)
        .status();
    let written = std::fs::read_to_string(raw).unwrap_or_default();
    let lines = match results::stamp(&written, stamp) {
        Ok(lines) => lines,
        Err(e) => {
            return ("failed", Some(format!("{e:#}")), None, Vec::new());
        }
    };
    match status {
        Err(e) => (
            "failed",
            Some(format!("bash could not start: {e}")),
            None,
            lines,
        ),
        Ok(s) if !s.success() => (
            "failed",
            Some(format!(
                "exited {}; its output is in {}",
                s.code()
                    .map_or_else(|| "on a signal".to_owned(), |c| c.to_string()),
                log.strip_prefix(&at.root).unwrap_or(log).display()
            )),
            s.code(),
            lines,
        ),
        Ok(s) if lines.is_empty() => (
            "failed",
            Some("it exited 0 but wrote no results".to_owned()),
            s.code(),
            lines,
        ),
        Ok(s) => ("ok", None, s.code(), lines),
    }
}

/// Why the bench cannot run here, after installing what it may from Debian.
fn missing_tools(bench: &Bench) -> Option<String> {
    let missing = |bench: &Bench| -> Vec<String> {
        bench
            .needs
            .iter()
            .filter(|tool| !on_path(tool))
            .cloned()
            .collect()
    };
    let first = missing(bench);
    if first.is_empty() {
        return None;
    }
    if !bench.apt.is_empty() && may_install() {
        eprintln!(
            "{}: installing {} (apt-get install {})",
            bench.id,
            first.join(", "),
            bench.apt.join(" ")
        );
        let install = |update: bool| {
            let mut command = String::new();
            if update {
                command.push_str("apt-get update -qq && ");
            }
            command.push_str("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ");
            command.push_str(&bench.apt.join(" "));
            let mut shell = if is_root() {
                Command::new("bash")
            } else {
                let mut sudo = Command::new("sudo");
                sudo.args(["-n", "bash"]);
                sudo
            };
            shell
                .args(["-c", &command])
                .status()
                .is_ok_and(|s| s.success())
        };
        let _ = install(false) || install(true);
    }
    let still = missing(bench);
    (!still.is_empty()).then(|| {
        let hint = if bench.apt.is_empty() {
            String::new()
        } else {
            format!(" (apt-get install {})", bench.apt.join(" "))
        };
        format!("needs {} on PATH{hint}", still.join(", "))
    })
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            let path = dir.join(tool);
            path.is_file()
                && std::fs::metadata(&path).is_ok_and(|m| {
                    std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
                })
        })
    })
}

/// Root, or sudo without a password, and apt-get.
fn may_install() -> bool {
    (is_root()
        || Command::new("sudo")
            .args(["-n", "true"])
            .status()
            .is_ok_and(|s| s.success()))
        && Command::new("apt-get")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next())
            == Some("0")
    })
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench(command: &str, needs: &[&str]) -> Bench {
        Bench {
            id: "probe".into(),
            title: "Probe".into(),
            command: command.into(),
            needs: needs.iter().map(|s| (*s).to_owned()).collect(),
            apt: Vec::new(),
            minutes: 1,
            about: String::new(),
            remarks: None,
        }
    }

    fn workspace(name: &str) -> Workspace {
        let root =
            std::env::temp_dir().join(format!("dx-benchmarks-run-{name}-{}", std::process::id()));
        let logs = root.join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        Workspace { root, logs }
    }

    fn run_line(lines: &[Value]) -> &Value {
        lines.last().unwrap()
    }

    #[test]
    fn a_bench_that_writes_results_is_ok_and_its_lines_are_stamped() {
        let at = workspace("ok");
        let command = r#"echo measuring; echo '{"kind":"figure","figure":"f","ours":{"name":"o","value":2},"peer":{"name":"p","value":1},"ratio":2}' >> "$DX_BENCH_RESULTS""#;
        let lines = run(&bench(command, &[]), &at, &Machine::this(), "abc");
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["bench"], "probe");
        assert_eq!(run_line(&lines)["status"], "ok");
        let log = std::fs::read_to_string(at.logs.join("probe.log")).unwrap();
        assert_eq!(log, "measuring\n");
        std::fs::remove_dir_all(&at.root).unwrap();
    }

    #[test]
    fn a_failing_bench_keeps_what_it_measured_and_says_why() {
        let at = workspace("fail");
        let command =
            r#"echo '{"kind":"count","what":"lost","value":1}' >> "$DX_BENCH_RESULTS"; exit 3"#;
        let lines = run(&bench(command, &[]), &at, &Machine::this(), "abc");
        let run = run_line(&lines);
        assert_eq!(run["status"], "failed");
        assert_eq!(run["exit_code"], 3);
        assert!(
            run["reason"].as_str().unwrap().contains("exited 3"),
            "{run}"
        );
        assert_eq!(lines.len(), 2);
        std::fs::remove_dir_all(&at.root).unwrap();
    }

    #[test]
    fn a_bench_that_writes_nothing_or_garbage_is_a_failure() {
        let at = workspace("nothing");
        let silent = run(&bench("true", &[]), &at, &Machine::this(), "abc");
        assert_eq!(
            run_line(&silent)["reason"],
            "it exited 0 but wrote no results"
        );
        let garbage = run(
            &bench(r#"echo hello >> "$DX_BENCH_RESULTS""#, &[]),
            &at,
            &Machine::this(),
            "abc",
        );
        assert_eq!(run_line(&garbage)["status"], "failed");
        assert!(
            run_line(&garbage)["reason"]
                .as_str()
                .unwrap()
                .contains("not JSON")
        );
        std::fs::remove_dir_all(&at.root).unwrap();
    }

    #[test]
    fn a_bench_whose_tools_are_missing_is_not_run() {
        let at = workspace("missing");
        let lines = run(
            &bench("true", &["no-such-tool-dx"]),
            &at,
            &Machine::this(),
            "abc",
        );
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["status"], "not run");
        assert_eq!(lines[0]["reason"], "needs no-such-tool-dx on PATH");
        std::fs::remove_dir_all(&at.root).unwrap();
    }
}
