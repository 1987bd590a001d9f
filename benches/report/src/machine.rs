//! The machine a benchmark ran on, read from /proc and the tools, so each figure in the report
//! says where it was measured.

use std::process::Command;

use serde::{Deserialize, Serialize};

/// What the report says about a machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// The processor's model name.
    pub cpu: String,
    /// Cores this process may use.
    pub cores: usize,
    /// Total memory, GiB.
    pub memory_gib: f64,
    /// The operating system's name.
    pub os: String,
    /// The kernel's release.
    pub kernel: String,
    /// `rustc --version`.
    pub rustc: String,
}

impl Machine {
    /// This machine.
    pub fn this() -> Self {
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
            .map_or_else(
                || std::env::consts::ARCH.to_owned(),
                |(_, m)| m.trim().to_owned(),
            );
        let memory_gib = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map_or_else(
                || std::env::consts::OS.to_owned(),
                |v| v.trim_matches('"').to_owned(),
            );
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (memory_gib * 10.0).round() / 10.0,
            os,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            rustc: output("rustc", &["--version"]),
        }
    }

    /// One line naming the machine, the same for every run on it.
    pub fn label(&self) -> String {
        format!(
            "{} cores, {}, {:.0} GiB, {}",
            self.cores, self.cpu, self.memory_gib, self.os
        )
    }
}

/// The 1-minute load average: how busy the machine was (others' work moves absolute figures,
/// less so the ratios).
pub fn load_average() -> Option<f64> {
    read("/proc/loadavg")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The commit measured, `-dirty` when the work tree has changes.
pub fn commit() -> String {
    let head = output("git", &["rev-parse", "--short", "HEAD"]);
    // The results and the report are what a run writes: changes to them are not the code's.
    let dirty = !output(
        "git",
        &[
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!benches/results.jsonl",
            ":!BENCHMARKS.md",
        ],
    )
    .is_empty();
    if dirty { format!("{head}-dirty") } else { head }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_is_described() {
        let machine = Machine::this();
        assert!(machine.cores >= 1);
        assert!(!machine.cpu.is_empty());
        assert!(
            machine
                .label()
                .starts_with(&format!("{} cores", machine.cores))
        );
    }
}
