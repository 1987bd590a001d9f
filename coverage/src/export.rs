//! The `cargo llvm-cov --json` export (llvm-cov's `llvm.coverage.json.export`).
//! Only per-file line summaries and segments are read; everything else in
//! the (large) export is ignored.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::root::Root;

/// The `type` llvm-cov writes into its JSON export.
const EXPORT_TYPE: &str = "llvm.coverage.json.export";

/// An export file that cannot be read or is not an llvm-cov JSON export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot read coverage export {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("malformed coverage export {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error(
        "{} is not an llvm-cov JSON export (type {kind:?}, expected {EXPORT_TYPE:?}): \
         produce it with `cargo llvm-cov --json`",
        path.display()
    )]
    WrongType { path: PathBuf, kind: String },
}

/// One region boundary: `[line, col, count, has_count, is_region_entry,
/// is_gap_region]` in the export (exports before LLVM 11 omit the last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(from = "RawSegment")]
pub struct Segment {
    pub line: u64,
    pub col: u64,
    pub count: u64,
    pub has_count: bool,
    pub is_region_entry: bool,
    pub is_gap_region: bool,
}

#[derive(Deserialize)]
struct RawSegment(u64, u64, u64, bool, bool, #[serde(default)] bool);

impl From<RawSegment> for Segment {
    fn from(raw: RawSegment) -> Self {
        let RawSegment(line, col, count, has_count, is_region_entry, is_gap_region) = raw;
        Self {
            line,
            col,
            count,
            has_count,
            is_region_entry,
            is_gap_region,
        }
    }
}

/// Line coverage of one source file under the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCoverage {
    /// `/`-separated, relative to the root.
    pub path: String,
    /// Lines llvm-cov counts as executable.
    pub lines: u64,
    pub covered: u64,
    /// Empty when the export was made with `--summary-only`.
    pub segments: Vec<Segment>,
}

/// The files of an export that lie under the root.
#[derive(Debug, Clone, Default)]
pub struct Export {
    pub files: Vec<FileCoverage>,
    /// Files skipped because they lie outside the root (dependencies, std).
    pub outside_root: usize,
}

#[derive(Deserialize)]
struct RawExport {
    #[serde(rename = "type")]
    kind: String,
    data: Vec<RawData>,
}

#[derive(Deserialize)]
struct RawData {
    files: Vec<RawFile>,
}

#[derive(Deserialize)]
struct RawFile {
    filename: String,
    summary: RawSummary,
    #[serde(default)]
    segments: Vec<Segment>,
}

#[derive(Deserialize)]
struct RawSummary {
    lines: RawLines,
}

#[derive(Deserialize)]
struct RawLines {
    count: u64,
    covered: u64,
}

/// Reads an export file and keeps the files under `root`.
pub fn load(path: &Path, root: &Root) -> Result<Export, ExportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ExportError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path, root)
}

/// Parses export text; `path` is only used in messages.
pub fn parse(text: &str, path: &Path, root: &Root) -> Result<Export, ExportError> {
    let raw: RawExport = serde_json::from_str(text).map_err(|source| ExportError::Parse {
        path: path.to_owned(),
        source,
    })?;
    if raw.kind != EXPORT_TYPE {
        return Err(ExportError::WrongType {
            path: path.to_owned(),
            kind: raw.kind,
        });
    }
    let mut export = Export::default();
    for file in raw.data.into_iter().flat_map(|d| d.files) {
        match root.relativize(&file.filename) {
            Some(relative) => export.files.push(FileCoverage {
                path: relative,
                lines: file.summary.lines.count,
                // Never trust covered > count: it would inflate a group.
                covered: file.summary.lines.covered.min(file.summary.lines.count),
                segments: file.segments,
            }),
            None => export.outside_root += 1,
        }
    }
    export.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(export)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Root {
        Root::new(Path::new("/")).unwrap()
    }

    #[test]
    fn reads_summaries_and_segments() {
        let text = r#"{"data":[{"files":[
            {"filename":"/r/a.rs","summary":{"lines":{"count":10,"covered":7,"percent":70.0}},
             "segments":[[1,1,5,true,true,false],[3,2,0,false,false,false]],"branches":[]},
            {"filename":"/r/b.rs","summary":{"lines":{"count":4,"covered":4,"percent":100.0}},
             "segments":[[2,5,1,true,true]]}
        ],"totals":{}}],"type":"llvm.coverage.json.export","version":"2.0.1"}"#;
        let export = parse(text, Path::new("x.json"), &root()).unwrap();
        assert_eq!(export.files.len(), 2);
        let a = &export.files[0];
        assert_eq!((a.path.as_str(), a.lines, a.covered), ("r/a.rs", 10, 7));
        assert_eq!(
            a.segments[0],
            Segment {
                line: 1,
                col: 1,
                count: 5,
                has_count: true,
                is_region_entry: true,
                is_gap_region: false
            }
        );
        // A five-element segment from an older LLVM.
        assert!(!export.files[1].segments[0].is_gap_region);
    }

    #[test]
    fn summary_only_exports_have_no_segments() {
        let text = r#"{"data":[{"files":[{"filename":"/a.rs","summary":{"lines":{"count":1,"covered":0}}}]}],
            "type":"llvm.coverage.json.export"}"#;
        let export = parse(text, Path::new("x.json"), &root()).unwrap();
        assert!(export.files[0].segments.is_empty());
    }

    #[test]
    fn rejects_malformed_and_foreign_json() {
        assert!(matches!(
            parse("{\"data\": [", Path::new("x"), &root()),
            Err(ExportError::Parse { .. })
        ));
        assert!(matches!(
            parse(
                "{\"type\":\"llvm.coverage.json.export\"}",
                Path::new("x"),
                &root()
            ),
            Err(ExportError::Parse { .. })
        ));
        assert!(matches!(
            parse("{\"type\":\"lcov\",\"data\":[]}", Path::new("x"), &root()),
            Err(ExportError::WrongType { .. })
        ));
    }
}
