//! The JSON report: its schema is `spec/report.schema.json`, described in
//! spec/conformance.md, "Reports".

use serde_json::{Value, json};

use super::{Expectation, is_transport, millis};
use crate::runner::Report;
use crate::verdict::Verdict;

/// The version of the report's shape (`spec/report.schema.json`). 2: a failure's `expected`
/// is an object naming the spec sentence (file, section, sentence), and a failure says
/// whether the transport failed (`kind`).
pub const REPORT_FORMAT: u32 = 2;

/// One JSON object describing the whole run.
pub fn render_json(report: &Report) -> String {
    let checks: Vec<Value> = report
        .results
        .iter()
        .map(|r| {
            let (reason, failure) = match &r.verdict {
                Verdict::Pass => (json!(r.unverified), Value::Null),
                Verdict::NotVerified(why) => (json!(why), Value::Null),
                Verdict::Fail(f) => (
                    Value::Null,
                    json!({
                        "kind": if is_transport(f) { "transport" } else { "violation" },
                        "expected": Expectation::of(&f.expected),
                        "actual": f.actual,
                        "counterexample": f.counterexample,
                        "replay": f.replay,
                    }),
                ),
            };
            let expected = r.expected.as_ref().map_or(
                Value::Null,
                |k| json!({ "reason": k.reason, "expires": k.expires.to_string() }),
            );
            json!({
                "id": r.id,
                "property": r.property,
                "title": r.title,
                "requirements": r.requirements,
                "tags": r.tags,
                "verdict": r.verdict.label(),
                "reason": reason,
                "cases": r.cases,
                "duration_ms": millis(r.duration),
                "failure": failure,
                "expected_failure": expected,
                "replay": report.replay_of(&r.id),
            })
        })
        .collect();
    let (implementation, profile, discovery) = match &report.described {
        Some(d) => {
            let mut implementation = json!({ "name": d.name, "version": d.version });
            if let Some(m) = &d.mutant {
                implementation["mutant"] = json!(m);
            }
            (
                implementation,
                json!(d.profile),
                json!({ "hash": d.discovery_hash }),
            )
        }
        None => (Value::Null, Value::Null, Value::Null),
    };
    let notices: Vec<Value> = report
        .notices
        .iter()
        .map(|n| json!({ "message": n.message(), "fails_run": n.fails_run() }))
        .collect();
    let doc = json!({
        "report_format": REPORT_FORMAT,
        "suite": { "name": "dx-conformance", "version": report.suite_version },
        "target": report.target,
        "instances": report.instances,
        "implementation": implementation,
        "profile": profile,
        "discovery": discovery,
        "problem": report.problem,
        "seed": report.seed,
        "cases": report.cases,
        "client_runtime": report.client_runtime,
        "duration_ms": millis(report.duration),
        "checks": checks,
        "notices": notices,
        "summary": report.summary(),
        "exit_code": report.exit_code(),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
