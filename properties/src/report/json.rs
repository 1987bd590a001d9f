//! The JSON report (its shape is in spec/conformance.md).

use serde_json::{Value, json};

use super::millis;
use crate::runner::Report;
use crate::verdict::Verdict;

/// One JSON object describing the whole run.
pub fn render_json(report: &Report) -> String {
    let checks: Vec<Value> = report
        .results
        .iter()
        .map(|r| {
            let (reason, failure) = match &r.verdict {
                Verdict::Pass => (Value::Null, Value::Null),
                Verdict::NotVerified(why) => (json!(why), Value::Null),
                Verdict::Fail(f) => (Value::Null, json!(f)),
            };
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
            })
        })
        .collect();
    let mut implementation =
        json!({ "name": report.implementation.0, "version": report.implementation.1 });
    if let Some(m) = &report.mutant {
        implementation["mutant"] = json!(m);
    }
    let doc = json!({
        "target": report.target,
        "instances": report.instances,
        "implementation": implementation,
        "profile": report.profile,
        "seed": report.seed,
        "duration_ms": millis(report.duration),
        "checks": checks,
        "summary": report.summary(),
    });
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
