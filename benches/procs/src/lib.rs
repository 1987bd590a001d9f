//! What `benches/sync` and `benches/load` share: both start `dx-reference` (and a peer) as
//! child processes on a free port, give the instances one signing key, and read a server's
//! resident memory and open descriptors from `/proc`. Each bench keeps its own way of
//! starting and waiting for its servers (blocking or on tokio); only these are the same.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// A port nothing listens on now (the kernel's pick), for a server to bind next.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr().context("no local address")?.port())
}

/// Writes a fresh signing key (64 hex digits from /dev/urandom, mode 0600) to `path`, for
/// `--key-file`: instances sharing it accept each other's tokens.
pub fn write_key(path: &Path) -> Result<()> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .context("cannot open /dev/urandom")?
        .read_exact(&mut bytes)
        .context("cannot read /dev/urandom")?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?
        .write_all(hex.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A process's resident set (`VmRSS` of `/proc/PID/status`), in KiB; `None` once it is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A process's open descriptors (entries of `/proc/PID/fd`); `None` once it is gone.
pub fn open_fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn this_process_has_memory_and_descriptors() {
        let me = std::process::id();
        assert!(rss_kib(me).unwrap() > 0);
        assert!(open_fds(me).unwrap() >= 3);
        assert_eq!(rss_kib(u32::MAX), None);
    }

    #[test]
    fn a_key_is_64_hex_digits_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("dx-bench-procs-{}.hex", std::process::id()));
        write_key(&path).unwrap();
        write_key(&path).unwrap();
        let key = std::fs::read_to_string(&path).unwrap();
        assert_eq!(key.len(), 64);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::remove_file(&path).unwrap();
        assert!(free_port().unwrap() > 0);
    }
}
