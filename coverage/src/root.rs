//! The repository root that gates.toml patterns are relative to. llvm-cov
//! reports absolute file names; anything outside the root (registry sources,
//! the standard library) is not ours to gate.

use std::path::{Component, Path, PathBuf};

/// A `--root` that does not name a directory.
#[derive(Debug, thiserror::Error)]
#[error("root {} is not a directory", path.display())]
pub struct RootError {
    pub path: PathBuf,
}

/// An absolute root, lexically normalised and, when it differs, canonical too,
/// so both symlinked and resolved file names in the export are recognised.
#[derive(Debug, Clone)]
pub struct Root {
    lexical: PathBuf,
    canonical: Option<PathBuf>,
}

impl Root {
    /// Resolves `dir` against the current directory.
    pub fn new(dir: &Path) -> Result<Self, RootError> {
        let not_dir = || RootError {
            path: dir.to_owned(),
        };
        if !dir.is_dir() {
            return Err(not_dir());
        }
        let absolute = std::path::absolute(dir).map_err(|_| not_dir())?;
        let lexical = normalize(&absolute).ok_or_else(not_dir)?;
        let canonical = std::fs::canonicalize(dir).ok().filter(|c| *c != lexical);
        Ok(Self { lexical, canonical })
    }

    /// The root as shown in the report.
    pub fn display(&self) -> std::path::Display<'_> {
        self.lexical.display()
    }

    /// The `/`-separated path of `filename` relative to the root, or `None`
    /// when it lies outside. Relative file names are taken as already
    /// relative to the root (as with `--remap-path-prefix` builds).
    pub fn relativize(&self, filename: &str) -> Option<String> {
        let path = Path::new(filename);
        let relative = if path.is_absolute() {
            let path = normalize(path)?;
            let stripped = path.strip_prefix(&self.lexical).ok().or_else(|| {
                self.canonical
                    .as_ref()
                    .and_then(|c| path.strip_prefix(c).ok())
            })?;
            stripped.to_owned()
        } else {
            normalize(path)?
        };
        let parts: Vec<String> = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.is_empty() {
            return None;
        }
        Some(parts.join("/"))
    }
}

/// Removes `.` and resolves `..` without touching the file system (the files
/// named in an export need not exist here); `None` if `..` climbs above the
/// start of a relative path.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_at(dir: &str) -> Root {
        Root {
            lexical: PathBuf::from(dir),
            canonical: None,
        }
    }

    #[test]
    fn makes_paths_under_root_relative() {
        let root = root_at("/work/main");
        assert_eq!(
            root.relativize("/work/main/reference/error/src/lib.rs")
                .as_deref(),
            Some("reference/error/src/lib.rs")
        );
        assert_eq!(
            root.relativize("/work/main/./a/../b/c.rs").as_deref(),
            Some("b/c.rs")
        );
    }

    #[test]
    fn skips_paths_outside_root() {
        let root = root_at("/work/main");
        let registry = "/root/.cargo/registry/src/index.crates.io-1/serde-1.0.0/src/lib.rs";
        assert_eq!(root.relativize(registry), None);
        assert_eq!(root.relativize("/work/mainly/x.rs"), None);
        assert_eq!(root.relativize("/work/main/../other/x.rs"), None);
        assert_eq!(root.relativize("/work/main"), None);
    }

    #[test]
    fn relative_names_are_already_relative() {
        let root = root_at("/work/main");
        assert_eq!(root.relativize("src/lib.rs").as_deref(), Some("src/lib.rs"));
        assert_eq!(root.relativize("../x.rs"), None);
    }

    #[test]
    fn canonical_root_is_also_accepted() {
        let root = Root {
            lexical: PathBuf::from("/link/main"),
            canonical: Some(PathBuf::from("/real/main")),
        };
        assert_eq!(root.relativize("/real/main/a.rs").as_deref(), Some("a.rs"));
        assert_eq!(root.relativize("/link/main/a.rs").as_deref(), Some("a.rs"));
    }

    #[test]
    fn root_must_be_a_directory() {
        assert!(Root::new(Path::new("/definitely/not/here")).is_err());
        assert!(Root::new(Path::new(".")).is_ok());
    }
}
