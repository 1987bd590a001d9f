//! The `dx-conformance` command as a user runs it: the embedded run, a run against a URL
//! (`--target` and `DX_TARGET`) giving the same verdicts, report formats and files, exit codes,
//! and a deliberately broken target whose failing property the report names.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::{Command, Output};

use dx_conformance::embedded::EmbeddedReference;
use dx_server::{Config, Mutant, Mutations, Profile};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_dx-conformance");

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("DX_TARGET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// A reference server on its own thread and runtime (the embedded target's machinery);
/// returns it, to keep it running, and its base URL.
fn start_reference(config: Config) -> (EmbeddedReference, String) {
    let reference = EmbeddedReference::start(config).unwrap();
    let url = reference.base_url();
    (reference, url)
}

/// The production profile's security settings with every rate limit out of reach: for
/// tests about profiles or accounts, not limits (the real limits have a test of their own).
fn production_out_of_limits() -> dx_server::config::SecuritySettings {
    let mut security = dx_server::config::SecuritySettings::for_profile(Profile::Production);
    security.limits = [dx_server::config::LimitSpec {
        max_requests: 1_000_000,
        window_seconds: 1,
    }; 3];
    security
}

/// The JSON report a run printed, after checking that it exited 0 (its stderr otherwise).
fn json_report(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The entry of check `id` in a JSON report.
fn check<'r>(json: &'r Value, id: &str) -> &'r Value {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {json}"))
}

fn verdicts(json: &Value) -> BTreeMap<String, String> {
    json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn embedded_and_url_targets_give_the_same_verdicts() {
    let embedded = run(&["run", "--format", "json", "--cases", "20"], &[]);
    let embedded = json_report(&embedded);
    assert_eq!(embedded["profile"], "conformance");
    assert_eq!(embedded["summary"]["fail"], 0);
    assert!(embedded["summary"]["pass"].as_u64().unwrap() >= 4);

    let (_reference, url) = start_reference(Config::conformance());
    let by_flag = run(
        &["run", "--format", "json", "--cases", "20", "--target", &url],
        &[],
    );
    let report = json_report(&by_flag);
    assert_eq!(report["target"], url.as_str());
    assert_eq!(verdicts(&report), verdicts(&embedded));
    // DX_TARGET names the same target as --target: one check is enough to see which was run
    // against (the whole suite by URL is the run above, and CI's).
    let by_env = run(
        &["run", "--format", "json", "--tags", "@p08", "--cases", "5"],
        &[("DX_TARGET", &url)],
    );
    let report = json_report(&by_env);
    assert_eq!(report["target"], url.as_str());
    assert_eq!(verdicts(&report)["p08"], "pass");
}

#[test]
fn a_broken_target_fails_and_the_report_names_the_property() {
    let mut config = Config::conformance();
    config.mutations = Mutations::with(Some(Mutant::LeaksInternals));
    let (_reference, url) = start_reference(config);
    let replays = temp_dir("mutant");
    let out = run(
        &[
            "run",
            "--target",
            &url,
            "--tags",
            "@p26",
            "--no-features",
            "--replay-dir",
            replays.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("=== FAIL p26 Error Response Sanitization [7.5]"),
        "{text}"
    );
    assert!(text.contains("Exchange:       curl"), "{text}");
    assert!(text.contains("Counterexample:"), "{text}");
    assert!(text.contains("mutant:         leaks-internals"), "{text}");
    let file = replays.join("p26.json");
    assert!(
        text.contains(&format!(
            "Replay:         dx-conformance replay {}",
            file.display()
        )),
        "{text}"
    );
    // The failure found against the mutant replays from its file, and fails the same way.
    let out = run(&["replay", file.to_str().unwrap()], &[]);
    let replayed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{replayed}");
    assert!(replayed.contains("fails again the same way"), "{replayed}");
    std::fs::remove_dir_all(replays).ok();
}

#[test]
fn other_profiles_report_not_verified_never_pass() {
    // Production honours no rate-limit partition, so Property 8's hundreds of requests would
    // meet the api limit; this test is about profiles, so the limits are set out of reach.
    let security = production_out_of_limits();
    let (_reference, url) = start_reference(Config {
        profile: Profile::Production,
        security,
        ..Config::conformance()
    });
    let out = run(
        &[
            "run",
            "--target",
            &url,
            "--format",
            "json",
            "--tags",
            "@p06,@p07,@p08,@p26",
        ],
        &[],
    );
    let report = json_report(&out);
    let v = verdicts(&report);
    for id in ["p06", "p07"] {
        assert_eq!(v[id], "not_verified", "{id}");
    }
    assert_eq!(v["p08"], "pass", "Property 8 needs no hooks");
    // Without hooks Property 26 judges what any client can provoke, and says that its
    // premise, an unhandled failure, was never reached: a pass in part, never a plain pass.
    assert_eq!(v["p26"], "pass");
    let p26 = check(&report, "p26");
    assert!(
        p26["reason"]
            .as_str()
            .unwrap()
            .starts_with("no request provoked an unhandled failure"),
        "{p26}"
    );
    let reason = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "p06")
        .unwrap()["reason"]
        .clone();
    assert!(
        reason
            .as_str()
            .unwrap()
            .contains("not in the conformance profile"),
        "{reason}"
    );
}

#[test]
fn one_run_writes_a_report_file_in_every_format() {
    let dir = std::env::temp_dir().join(format!("dx-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let formats = [
        ("xml", "<testsuite "),
        ("md", "| check | title |"),
        ("json", "\"summary\""),
        ("txt", "dx-conformance report"),
    ];
    let paths: Vec<String> = formats
        .iter()
        .map(|(ext, _)| dir.join(format!("report.{ext}")).display().to_string())
        .collect();
    let mut args = vec!["run", "--tags", "@p08", "--cases", "10"];
    for path in &paths {
        args.extend(["--out", path.as_str()]);
    }
    let out = run(&args, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The files are named once, on one line, not once per file.
    assert_eq!(stderr.matches("reports: ").count(), 1, "{stderr}");
    assert!(!stderr.contains("report written to"), "{stderr}");
    assert!(
        stderr.contains(&format!("reports: {}", paths.join(", "))),
        "{stderr}"
    );
    for ((ext, needle), path) in formats.iter().zip(&paths) {
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains(needle), "{ext}: {text}");
    }
    // One --out with --format: the format named, whatever the extension.
    let path = dir.join("report.junit");
    let out = run(
        &[
            "run",
            "--tags",
            "@p12",
            "--cases",
            "5",
            "--format",
            "junit",
            "--out",
            path.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("<testsuite ")
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn usage_and_unreachable_targets_exit_2() {
    for args in [
        vec!["run", "--format", "yaml"],
        vec!["run", "--out", "report.yaml"],
        vec![
            "run", "--format", "json", "--out", "a.json", "--out", "b.json",
        ],
        vec!["run", "--jobs", "0"],
        vec!["run", "--cases", "0"],
        vec!["run", "--timeout", "0"],
        vec!["run", "--expected-failures", "/nonexistent/expected.toml"],
        vec!["replay", "/nonexistent/p06.json"],
        vec!["run", "--ca-cert", "/nonexistent/ca.pem"],
        vec!["run", "--ca-cert", "Cargo.toml"],
        vec![
            "replay",
            "--ca-cert",
            "/nonexistent/ca.pem",
            "dx-replays/p06.json",
        ],
        vec!["run", "--target", "ftp://example.invalid"],
        vec!["run", "--target", "http://127.0.0.1:1"],
        vec![
            "run",
            "--features",
            "/nonexistent/features",
            "--tags",
            "@p08",
        ],
        vec!["bogus"],
        // Typos select nothing: a run that checks nothing must not exit 0.
        vec!["run", "--only", "nosuch"],
        vec!["run", "--only", "p6"],
        vec!["run", "--only", "p06,nosuch"],
        vec!["run", "--tags", "errorz"],
        vec!["run", "--skip", "sycn"],
        vec!["run", "--require", "nosuch"],
        vec!["run", "--require", "27"],
        vec!["run", "--seed", "often"],
        vec!["run", "--max-wait", "-1"],
        vec!["run", "--client-runtime", "v8"],
        vec![
            "run",
            "--client-runtime",
            "chromium",
            "--chromium",
            "/nonexistent/chromium",
        ],
    ] {
        let out = run(&args, &[]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?} explains itself");
    }
}

#[test]
fn list_shows_every_property_with_its_status() {
    let out = run(&["list"], &[("COLUMNS", "100")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    // The table fits 100 columns (its rows were 237 characters wide) and lines up.
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "{line:?}");
    }
    assert_eq!(text.lines().filter(|l| l.starts_with('p')).count(), 26);
    assert!(
        text.contains("p06   checked  Mutex Poisoning Recovery"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("p12") && l.contains("no discovery (a form)")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("p22") && l.contains("+instances")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("errors:")),
        "scenarios are listed: {text}"
    );
    let should: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with('s') && l.as_bytes().get(1).is_some_and(u8::is_ascii_digit))
        .collect();
    assert_eq!(should.len(), 4, "{text}");
    assert!(should.iter().all(|l| l.contains("--strict")), "{text}");
    assert!(
        should[0].contains("n/a") && should[1].contains("checked"),
        "{text}"
    );
    // Every property is checked now: nothing is pending.
    assert!(
        text.lines()
            .filter(|l| l.starts_with('p'))
            .all(|l| l.contains("checked") && !l.contains("pending")),
        "{text}"
    );
}

/// `list --format json` is the catalogue for tools: every entry whole, with its kind.
#[test]
fn list_as_json_gives_every_check_with_its_kind_needs_and_tags() {
    let out = run(&["list", "--format", "json"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = json["checks"].as_array().unwrap();
    let of_kind = |kind: &str| checks.iter().filter(|c| c["kind"] == kind).count();
    assert_eq!(of_kind("property"), 26);
    assert_eq!(of_kind("should"), 4);
    assert_eq!(of_kind("rule"), 4);
    assert!(of_kind("scenario") > 100);
    assert_eq!(checks.len(), 26 + 4 + 4 + of_kind("scenario"));
    let entry = |id: &str| checks.iter().find(|c| c["id"] == id).unwrap();
    let p01 = entry("p01");
    assert_eq!(p01["title"], "Password Hash Round-Trip");
    assert_eq!(p01["requirements"], serde_json::json!(["1.1"]));
    assert_eq!(p01["status"], "checked");
    assert!(p01["tags"].as_array().unwrap().contains(&"auth".into()));
    let needs: Vec<&str> = p01["needs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        needs.contains(&"an account (--account) or the conformance profile"),
        "{needs:?}"
    );
    assert!(
        entry("p12")["needs"][0]
            .as_str()
            .unwrap()
            .starts_with("nothing (a form runs without discovery)")
    );
    assert!(
        entry("p19")["needs"]
            .as_array()
            .unwrap()
            .contains(&"2 accounts (--account) or the conformance profile".into()),
        "{}",
        entry("p19")
    );
    assert_eq!(entry("rules:request-id")["kind"], "rule");
    assert_eq!(entry("s01")["status"], "n/a");
    for c in checks {
        for key in [
            "id",
            "title",
            "kind",
            "status",
            "requirements",
            "needs",
            "tags",
        ] {
            assert!(!c[key].is_null(), "{key} of {c}");
        }
    }
}

#[test]
fn list_into_a_closed_pipe_ends_quietly() {
    // The reader is gone before the listing is written (`dx-conformance list | head -0`).
    let mut child = Command::new(BIN)
        .arg("list")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

/// A program the test needs: its path, or `None` where it is missing (a failure under CI,
/// which installs it).
fn tool(name: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "{name} is missing; .ci/run installs it"
        );
        eprintln!("{name} is not installed here: that part of the test is skipped");
    }
    found
}

/// Validates a JUnit file against Maven Surefire's report schema (test data).
fn validates_against_surefire(path: &std::path::Path) {
    let Some(xmllint) = tool("xmllint") else {
        return;
    };
    let xsd = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/surefire-test-report-3.0.xsd"
    );
    let out = Command::new(xmllint)
        .args(["--noout", "--schema", xsd])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The DOM headless Chromium builds from an HTML report.
fn rendered_dom(path: &std::path::Path) -> Option<String> {
    chromium(
        &format!("file://{}", path.display()),
        &["--dump-dom".to_owned()],
    )
}

/// A plain web server that is no dx-www target, like `python3 -m http.server` in an empty
/// folder: every request gets 404 with an HTML page and none of dx-www's headers.
fn plain_server() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                let _ = stream.read(&mut buf);
                let body =
                    "<html><body><h1>Error response</h1><p>Error code: 404</p></body></html>";
                let _ = write!(
                    stream,
                    "HTTP/1.0 404 File not found\r\nServer: SimpleHTTP/0.6\r\nContent-Type: text/html;charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    url
}

/// A server that accepts connections and then either never answers or resets them.
fn broken_server(hang: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            if hang {
                held.push(stream);
            } else {
                // A zero linger turns the close into a reset.
                let socket = socket2::SockRef::from(&stream);
                let _ = socket.set_linger(Some(std::time::Duration::ZERO));
                drop(stream);
            }
        }
    });
    url
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dx-cli-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_server_without_discovery_gets_the_checks_that_need_none_and_a_report_in_every_format() {
    let url = plain_server();
    let dir = temp_dir("plain");
    let (json, xml, html) = (dir.join("r.json"), dir.join("r.xml"), dir.join("r.html"));
    let replays = dir.join("replays");
    let out = run(
        &[
            "run",
            "--target",
            &url,
            "--cases",
            "10",
            "--out",
            json.to_str().unwrap(),
            "--out",
            xml.to_str().unwrap(),
            "--out",
            html.to_str().unwrap(),
            "--replay-dir",
            replays.to_str().unwrap(),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no valid discovery document"), "{stderr}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(report["implementation"].is_null());
    assert!(report["problem"].as_str().unwrap().contains("HTTP 404"));
    for (id, verdict) in verdicts(&report) {
        match id.as_str() {
            // The envelope and the headers: a plain server has neither, and neither request
            // ids; each rule is reported once, apart from the properties.
            "p08" | "p12" | "rules:request-id" | "rules:envelope" | "rules:security-headers" => {
                assert_eq!(verdict, "fail", "{id}")
            }
            // It reveals nothing, but nothing made it fail: a pass in part.
            "p26" | "rules:sanitization" => assert_eq!(verdict, "pass", "{id}"),
            _ => assert_eq!(verdict, "not_verified", "{id}"),
        }
    }
    assert!(
        check(&report, "p26")["reason"]
            .as_str()
            .unwrap()
            .starts_with("no request provoked an unhandled failure")
    );
    let p12 = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "p12")
        .unwrap();
    assert!(
        p12["failure"]["actual"]
            .as_str()
            .unwrap()
            .contains("no content-security-policy header"),
        "{p12}"
    );
    let p01 = &report["checks"][0];
    assert!(
        p01["reason"]
            .as_str()
            .unwrap()
            .starts_with("no discovery document: `auth` unknown")
    );
    validates_against_surefire(&xml);
    if let Some(dom) = rendered_dom(&html) {
        assert_eq!(dom.matches("<tr class=\"fail check").count(), 5, "{dom}");
        assert!(dom.matches("<tr class=\"not-verified check\"").count() > 100);
        assert!(dom.contains("dx-conformance replay"));
        assert!(
            !dom.contains("http://") || dom.contains(&url),
            "no external asset"
        );
    }
    let html_text = std::fs::read_to_string(&html).unwrap();
    for external in ["<link", "<script src", "<img", "src=", "@import", "url("] {
        assert!(!html_text.contains(external), "self-contained: {external}");
    }
    // Each failure of a check was saved, and replays the same way; a rule's entry, which
    // gathers what many checks met, is not a case to replay.
    assert!(!replays.join("rules-request-id.json").exists());
    for id in ["p08", "p12"] {
        let file = replays.join(format!("{id}.json"));
        assert!(file.is_file(), "{id}");
        let out = run(&["replay", file.to_str().unwrap()], &[]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{id}: {text}");
        assert!(text.contains("fails again the same way"), "{id}: {text}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn strict_adds_the_should_level_checks() {
    let url = plain_server();
    let dir = temp_dir("strict");
    let json = dir.join("r.json");
    let replays = dir.join("replays");
    let args = |target: &str, strict: bool| {
        let mut a = vec![
            "run".to_owned(),
            "--only".to_owned(),
            "should,p12".to_owned(),
            "--no-features".to_owned(),
            "--out".to_owned(),
            json.to_str().unwrap().to_owned(),
            "--replay-dir".to_owned(),
            replays.to_str().unwrap().to_owned(),
        ];
        if !target.is_empty() {
            a.extend(["--target".to_owned(), target.to_owned()]);
        }
        if strict {
            a.push("--strict".to_owned());
        }
        a
    };
    let run_with = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let out = run(&a, &[]);
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        (out, verdicts(&report), report)
    };
    // Without --strict, only the MUST-level check ran.
    let (_, plain, _) = run_with(args(&url, false));
    assert_eq!(plain.keys().collect::<Vec<_>>(), ["p12"]);
    // With it, each SHOULD sentence has its entry: the plain server names its version.
    let (out, strict, report) = run_with(args(&url, true));
    assert_eq!(out.status.code(), Some(1));
    let want = [
        ("p12", "fail"),
        ("s01", "not_verified"),
        ("s02", "not_verified"),
        ("s03", "not_verified"),
        ("s04", "fail"),
    ];
    assert_eq!(
        strict,
        want.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>()
    );
    let s04 = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "s04")
        .unwrap();
    assert!(
        s04["failure"]["actual"]
            .as_str()
            .unwrap()
            .contains("Server: SimpleHTTP/0.6"),
        "{s04}"
    );
    assert_eq!(
        s04["tags"],
        serde_json::json!(["s04", "should", "security-headers"])
    );
    let replayed = run(&["replay", replays.join("s04.json").to_str().unwrap()], &[]);
    let text = String::from_utf8_lossy(&replayed.stdout);
    assert!(text.contains("fails again the same way"), "{text}");
    // The reference meets both observable SHOULDs.
    let (out, reference, _) = run_with(args("", true));
    assert_eq!(out.status.code(), Some(0), "{reference:?}");
    assert_eq!(reference["s02"], "pass");
    assert_eq!(reference["s04"], "pass");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn expected_failures_are_reported_without_failing_the_run_until_they_expire() {
    let url = plain_server();
    let dir = temp_dir("expected");
    let file = dir.join("expected.toml");
    let entries = |p12_expires: &str| {
        format!(
            "[[failure]]\nid = \"p08\"\nreason = \"a proxy answers errors (OPS-1)\"\nexpires = \"2099-01-01\"\n\n\
             [[failure]]\nid = \"p12\"\nreason = \"headers come from the CDN (OPS-2)\"\nexpires = \"{p12_expires}\"\n\n\
             [[failure]]\nid = \"rules:request-id\"\nreason = \"no request ids yet (OPS-3)\"\nexpires = \"2099-01-01\"\n\n\
             [[failure]]\nid = \"rules:envelope\"\nreason = \"a proxy answers errors (OPS-1)\"\nexpires = \"2099-01-01\"\n\n\
             [[failure]]\nid = \"rules:security-headers\"\nreason = \"headers come from the CDN (OPS-2)\"\nexpires = \"2099-01-01\"\n\n\
             [[failure]]\nid = \"p01\"\nreason = \"no auth on staging\"\nexpires = \"2099-01-01\"\n"
        )
    };
    let json = dir.join("r.json");
    let args = [
        "run",
        "--target",
        &url,
        "--cases",
        "5",
        "--no-features",
        "--expected-failures",
        file.to_str().unwrap(),
        "--out",
        json.to_str().unwrap(),
        "--replay-dir",
        dir.join("replays").to_str().unwrap(),
    ]
    .map(str::to_owned);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    std::fs::write(&file, entries("2099-01-01")).unwrap();
    let out = run(&args, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["summary"]["expected_fail"], 5);
    assert_eq!(report["summary"]["fail"], 0);
    assert_eq!(report["notices"][0]["fails_run"], false, "p01 was not run");

    std::fs::write(&file, entries("2020-01-01")).unwrap();
    let out = run(&args, &[]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["summary"]["fail"], 1);
    let messages: Vec<&str> = report["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["message"].as_str().unwrap())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("p12") && m.contains("expired on 2020-01-01"))
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn unreachable_hanging_and_resetting_targets_still_write_a_report() {
    let dir = temp_dir("broken");
    for (name, url) in [
        ("refused", "http://127.0.0.1:1".to_owned()),
        ("reset", broken_server(false)),
        ("hang", broken_server(true)),
    ] {
        let xml = dir.join(format!("{name}.xml"));
        let json = dir.join(format!("{name}.json"));
        let out = run(
            &[
                "run",
                "--target",
                &url,
                "--out",
                xml.to_str().unwrap(),
                "--out",
                json.to_str().unwrap(),
                "--replay-dir",
                dir.join("replays").to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(2), "{name}");
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(
            verdicts(&report).get("target").map(String::as_str),
            Some("fail"),
            "{name}"
        );
        assert!(
            report["problem"].as_str().unwrap().contains("unreachable"),
            "{name}: {report}"
        );
        validates_against_surefire(&xml);
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn only_and_skip_select_checks_by_id_tag_and_area() {
    let out = run(
        &[
            "run",
            "--only",
            "security-headers,@p06",
            "--skip",
            "p06",
            "--cases",
            "3",
            "--no-features",
            "--format",
            "json",
        ],
        &[],
    );
    let report = json_report(&out);
    assert_eq!(
        verdicts(&report).into_iter().collect::<Vec<_>>(),
        [
            ("p12".to_owned(), "pass".to_owned()),
            // The area selects the rule of the headers too (spec/conformance.md, "Rules
            // every response obeys").
            ("rules:security-headers".to_owned(), "pass".to_owned())
        ]
    );
}

/// A web server that is no dx-www target, answering each request with what `respond` makes
/// of its head (`METHOD PATH`): as frameworks in their default or debug configuration do.
fn foreign_server(respond: fn(&str) -> (u16, &'static str, String)) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 20];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]);
                let line = head.lines().next().unwrap_or("");
                let mut words = line.split(' ');
                let request = format!(
                    "{} {}",
                    words.next().unwrap_or(""),
                    words.next().unwrap_or("")
                );
                let (status, content_type, body) = respond(&request);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    url
}

/// A web app in debug mode: a POST it cannot parse is an unhandled exception, answered with
/// the traceback; everything else is a plain 404. No request ids, no security headers.
fn debug_app(request: &str) -> (u16, &'static str, String) {
    if request.starts_with("POST ") {
        (
            500,
            "text/html",
            "<pre>Traceback (most recent call last):\n  File \"/srv/app/views.py\", line 41, in create\n    data = json.loads(request.body)\njson.decoder.JSONDecodeError: Expecting value: line 1 column 1</pre>".into(),
        )
    } else {
        (404, "text/html", "<h1>Not Found</h1>".into())
    }
}

/// The same app in production mode: nothing it is sent makes it fail.
fn quiet_app(_: &str) -> (u16, &'static str, String) {
    (404, "text/html", "<h1>Not Found</h1>".into())
}

/// A server that leaks a traceback with no fault hooks and no request ids fails Property 26
/// on the leak itself (the missing request id is reported once, apart); one that reveals
/// nothing and never fails is a pass in part, never a plain pass.
#[test]
fn sanitization_is_judged_without_hooks_or_request_ids_and_never_passes_plainly() {
    let out = run(
        &[
            "run",
            "--target",
            &foreign_server(debug_app),
            "--cases",
            "5",
            "--no-features",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let p26 = check(&report, "p26");
    assert_eq!(p26["verdict"], "fail", "{p26}");
    let actual = p26["failure"]["actual"].as_str().unwrap();
    assert!(actual.contains("stack trace"), "{actual}");
    assert!(actual.contains("Traceback"), "{actual}");
    let ids = check(&report, "rules:request-id");
    assert_eq!(ids["verdict"], "fail");
    let listed = ids["failure"]["actual"].as_str().unwrap();
    assert!(listed.contains("met by p08, p12, p26"), "{listed}");
    assert_eq!(check(&report, "rules:sanitization")["verdict"], "fail");

    let out = run(
        &[
            "run",
            "--target",
            &foreign_server(quiet_app),
            "--cases",
            "5",
            "--only",
            "p26",
            "--format",
            "json",
        ],
        &[],
    );
    let report = json_report(&out);
    let p26 = check(&report, "p26");
    assert_eq!(p26["verdict"], "pass");
    assert!(
        p26["reason"]
            .as_str()
            .unwrap()
            .starts_with("no request provoked an unhandled failure"),
        "{p26}"
    );
}

/// A failing case names every header it lacks, not the first: one run, one list to fix.
#[test]
fn every_missing_security_header_is_named() {
    let out = run(
        &[
            "run",
            "--target",
            &foreign_server(quiet_app),
            "--cases",
            "1",
            "--only",
            "p12",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let actual = check(&report, "p12")["failure"]["actual"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(actual.contains("6 of the six headers"), "{actual}");
    for header in [
        "content-security-policy",
        "strict-transport-security",
        "x-frame-options",
        "x-content-type-options",
        "x-xss-protection",
        "referrer-policy",
    ] {
        assert!(
            actual.contains(&format!("no {header} header")),
            "{header}: {actual}"
        );
    }
}

/// Our reference in its production profile, with its real rate limits and no hooks: the
/// suite paces itself within the published budgets and never judges a refusal as a failure
/// of another property; what it could not finish within --max-wait is not verified, naming
/// the category. `--require` then tells a green exit from a run that verified too little.
#[test]
fn the_production_profile_with_its_real_limits_has_no_failures() {
    let (_reference, url) = start_reference(Config {
        profile: Profile::Production,
        security: dx_server::config::SecuritySettings::for_profile(Profile::Production),
        ..Config::conformance()
    });
    let out = run(
        &[
            "run",
            "--target",
            &url,
            "--cases",
            "10",
            "--max-wait",
            "2",
            "--format",
            "json",
        ],
        &[],
    );
    let report = json_report(&out);
    let failed: Vec<String> = verdicts(&report)
        .into_iter()
        .filter(|(_, v)| v == "fail")
        .map(|(id, _)| id)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    // Property 8's hundreds of requests outrun the `auth` budget (10 a minute): the cases
    // that were sent held, the rest are named as not sent.
    let p08 = check(&report, "p08");
    assert_eq!(p08["verdict"], "pass", "{p08}");
    let reason = p08["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "cases held; the rest were not sent: rate limited: the target's `auth` budget"
        ),
        "{p08}"
    );
    let out = run(
        &[
            "run",
            "--target",
            &url,
            "--only",
            "p12,p26",
            "--require",
            "20",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let notice = report["notices"][0]["message"].as_str().unwrap();
    assert!(
        notice.contains("--require 20 is not met: 2 of the 26 properties were verified"),
        "{notice}"
    );
}

/// Like upstream dx-www's login route: a body it cannot parse is answered with the parser's
/// own message. Only that route does it.
fn parser_leaking_app(request: &str) -> (u16, &'static str, String) {
    if request == "POST /api/auth/login" {
        (
            400,
            "text/plain",
            "Failed to parse the request body as JSON: EOF while parsing a value at line 1 column 9".into(),
        )
    } else {
        (404, "text/html", "<h1>Not Found</h1>".into())
    }
}

/// A deployment's own routes, named with --probe (or an OpenAPI document), are probed by
/// Properties 8, 12 and 26: a leak only such a route shows is found, which the spec'd paths
/// alone never reach.
#[test]
fn the_deployments_own_routes_are_probed_when_named() {
    let url = foreign_server(parser_leaking_app);
    let p26 = |extra: &[&str]| {
        let mut args = vec![
            "run", "--target", &url, "--cases", "3", "--only", "p26", "--format", "json",
        ];
        args.extend_from_slice(extra);
        let out = run(&args, &[]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code(), check(&report, "p26").clone())
    };
    let (code, unnamed) = p26(&[]);
    assert_eq!(code, Some(0));
    assert_eq!(unnamed["verdict"], "pass", "{unnamed}");
    let (code, named) = p26(&["--probe", "POST /api/auth/login"]);
    assert_eq!(code, Some(1));
    assert_eq!(named["verdict"], "fail", "{named}");
    let actual = named["failure"]["actual"].as_str().unwrap();
    assert!(
        actual.contains("POST /api/auth/login with ")
            && actual.contains("a library's or parser's own error message"),
        "{actual}"
    );
    let dir = temp_dir("openapi");
    let openapi = dir.join("api.json");
    std::fs::write(
        &openapi,
        r#"{"openapi":"3.0.0","paths":{"/api/auth/login":{"post":{}}}}"#,
    )
    .unwrap();
    let (code, from_openapi) = p26(&["--openapi", openapi.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{from_openapi}");
    for bad in [
        vec!["run", "--probe", "LOGIN /x"],
        vec!["run", "--probe", "POST"],
        vec!["run", "--openapi", "/nonexistent/api.json"],
    ] {
        assert_eq!(run(&bad, &[]).status.code(), Some(2), "{bad:?}");
    }
    std::fs::remove_dir_all(dir).ok();
}

/// `curl` with `args` against `url`: the status, then the body.
fn curl(url: &str, args: &[&str]) -> (String, Value) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (
        status.to_owned(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// A production reference with registration opened for the test itself (the suite never
/// calls the register endpoint outside the conformance profile) and two accounts on it.
fn production_with_accounts() -> (EmbeddedReference, String, Vec<(String, String)>) {
    let security = production_out_of_limits();
    let mut auth = dx_server::config::AuthSettings::for_profile(Profile::Production);
    auth.registration = true;
    let (reference, url) = start_reference(Config {
        profile: Profile::Production,
        security,
        auth,
        ..Config::conformance()
    });
    let mut accounts = Vec::new();
    for n in 0..2 {
        let (email, password) = (format!("ops{n}@example.com"), format!("Ops-Pw-{n}-x"));
        let body = serde_json::json!({"email": email, "password": password}).to_string();
        let (status, _) = curl(
            &format!("{url}/api/v1/auth/register"),
            &[
                "-H",
                "content-type: application/json",
                "--data-binary",
                &body,
            ],
        );
        assert_eq!(status, "201");
        accounts.push((email, password));
    }
    (reference, url, accounts)
}

/// Production with two test accounts and nothing else: CSRF, the items API and sync run
/// whole or in part (each in part saying what the hooks would add), none fails, and the
/// accounts hold no item afterwards (the checks delete what they stored).
#[test]
fn test_accounts_verify_csrf_items_and_sync_in_production_and_leave_no_items() {
    let (_reference, url, accounts) = production_with_accounts();
    let given: Vec<String> = accounts.iter().map(|(e, p)| format!("{e}:{p}")).collect();
    let mut args = vec![
        "run",
        "--target",
        &url,
        "--cases",
        "10",
        "--no-features",
        "--only",
        "csrf,query,sync",
        "--format",
        "json",
    ];
    for account in &given {
        args.extend(["--account", account.as_str()]);
    }
    let report = json_report(&run(&args, &[]));
    let v = verdicts(&report);
    for id in [
        "p16", "p17", "p18", "p19", "p21", "p22", "p23", "p24", "p25",
    ] {
        assert_eq!(v[id], "pass", "{id}: {}", check(&report, id));
    }
    let in_part = |id: &str, says: &str| {
        let reason = check(&report, id)["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(reason.contains(says), "{id}: {reason}");
    };
    in_part("p17", "expired token's refusal was not watched");
    in_part("p21", "query timeout");
    in_part("p24", "silent connection");
    for (email, password) in &accounts {
        let body = serde_json::json!({"email": email, "password": password}).to_string();
        let (status, pair) = curl(
            &format!("{url}/api/v1/auth/login"),
            &[
                "-H",
                "content-type: application/json",
                "--data-binary",
                &body,
            ],
        );
        assert_eq!(status, "200");
        let bearer = format!(
            "Authorization: Bearer {}",
            pair["access_token"].as_str().unwrap()
        );
        let (status, listing) = curl(&format!("{url}/api/v1/items?limit=100"), &["-H", &bearer]);
        assert_eq!(status, "200");
        assert_eq!(
            listing["items"],
            serde_json::json!([]),
            "{email} holds items the suite stored"
        );
    }
}

/// Production with test accounts the operator created (here through registration the test
/// opens for itself; the suite never calls the register endpoint outside the conformance
/// profile): the auth checks log in with them, say what the hooks would add, and no report
/// or replay file shows a password. A wrong password is a set-up to fix, not a failure.
#[test]
fn test_accounts_verify_auth_in_production_and_stay_secret() {
    let security = production_out_of_limits();
    let mut auth = dx_server::config::AuthSettings::for_profile(Profile::Production);
    auth.registration = true;
    let (_reference, url) = start_reference(Config {
        profile: Profile::Production,
        security,
        auth,
        ..Config::conformance()
    });
    let secrets = ["Canary-Pw-One", "Canary:Pw\"Two"];
    let mut accounts = String::from("# staging\n");
    for (n, password) in secrets.iter().enumerate() {
        let email = format!("qa{n}@example.com");
        let body = serde_json::json!({"email": email, "password": password}).to_string();
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                "content-type: application/json",
                "--data-binary",
                &body,
            ])
            .arg(format!("{url}/api/v1/auth/register"))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "201");
        accounts.push_str(&format!("{email}:{password}\n"));
    }
    let dir = temp_dir("accounts");
    let file = dir.join("accounts.txt");
    std::fs::write(&file, &accounts).unwrap();
    let (json, md) = (dir.join("r.json"), dir.join("r.md"));
    let out = run(
        &[
            "run",
            "--target",
            &url,
            "--cases",
            "5",
            "--only",
            "auth",
            "--accounts-file",
            file.to_str().unwrap(),
            "--out",
            json.to_str().unwrap(),
            "--out",
            md.to_str().unwrap(),
            "--replay-dir",
            dir.join("replays").to_str().unwrap(),
        ],
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let v = verdicts(&report);
    for id in ["p01", "p02", "p04", "p05"] {
        assert_eq!(v[id], "pass", "{id}: {}", check(&report, id));
    }
    assert!(
        check(&report, "p01")["reason"]
            .as_str()
            .unwrap()
            .contains("open registration would add"),
        "p01 says what registration would add"
    );
    assert_eq!(v["p03"], "not_verified");
    for path in [&json, &md] {
        let text = std::fs::read_to_string(path).unwrap();
        for secret in ["Canary-Pw-One", "Canary:Pw", "Canary:Pw\\\"Two"] {
            assert!(
                !text.contains(secret),
                "{} shows a password",
                path.display()
            );
        }
    }
    // A password that does not log in leaves the checks not verified, saying why.
    let out = run(
        &[
            "run",
            "--target",
            &url,
            "--only",
            "p02",
            "--account",
            "qa0@example.com:not-it",
            "--format",
            "json",
        ],
        &[],
    );
    let report = json_report(&out);
    let p02 = check(&report, "p02");
    assert_eq!(p02["verdict"], "not_verified", "{p02}");
    assert!(
        p02["reason"].as_str().unwrap().contains("does not log in"),
        "{p02}"
    );
    for bad in [
        vec!["run", "--account", "no-colon"],
        vec!["run", "--accounts-file", "/nonexistent"],
    ] {
        assert_eq!(run(&bad, &[]).status.code(), Some(2), "{bad:?}");
    }
    std::fs::remove_dir_all(dir).ok();
}

/// A report of the kind triage meets: failures (one with a long unbroken payload, one the
/// transport's), not verified for three reasons, passes in part and passes.
fn triage_fixture() -> dx_conformance::Report {
    use dx_conformance::{CheckResult, Failure, Verdict};
    let entry = |id: &str, title: &str, verdict: Verdict| CheckResult {
        id: id.into(),
        property: None,
        title: title.into(),
        statement: Some("Every response with status ≥ 400 carries the envelope.".into()),
        requirements: vec!["2.1".into(), "7.5".into()],
        tags: vec!["error".into()],
        verdict,
        unverified: None,
        cases: 100,
        duration: std::time::Duration::from_millis(1234),
        position: None,
        expected: None,
    };
    let fail = |actual: String| {
        Verdict::Fail(Failure {
            expected: dx_conformance::clause::error_format::ENVELOPE.cite(),
            actual,
            counterexample: Some(
                "Request {\n    method: \"POST\",\n    body: b\"{\\\"a\\\":\\x00}\",\n}".into(),
            ),
            replay: Some(format!(
                "curl -i -X POST 'http://127.0.0.1:9/api/v1/items' --data-binary '{}'",
                "A".repeat(600)
            )),
        })
    };
    let mut results = vec![
        entry(
            "p12",
            "Security Headers Presence",
            fail("HTTP 500\ncontent-type: text/plain\n\nno content-security-policy header".into()),
        ),
        entry(
            "errors:envelope/unknown-path-with-a-long-row-name",
            "An unknown path gets the envelope, whatever its method and whatever its body",
            fail(format!("HTTP 404\n\n{}", "x".repeat(3000))),
        ),
        entry(
            "p24",
            "Connection Liveness",
            Verdict::Fail(Failure {
                expected: dx_conformance::clause::conformance::TRANSPORT.cite(),
                actual: "no response: connection reset by peer".into(),
                counterexample: None,
                replay: None,
            }),
        ),
    ];
    for i in 0..4 {
        results.push(entry(
            &format!("p0{}", i + 1),
            "Token Expiration Enforcement",
            fail(format!("HTTP 200 after expiry {i}")),
        ));
    }
    for (k, (reason, n)) in [
        ("target is not in the conformance profile", 20),
        ("no discovery document: `auth` unknown", 6),
        ("rate limited: the target's `api` budget", 3),
    ]
    .into_iter()
    .enumerate()
    {
        for i in 0..n {
            results.push(entry(
                &format!("errors:nv-{k}-{i:02}"),
                "Not verified here",
                Verdict::NotVerified(reason.into()),
            ));
        }
    }
    let mut in_part = entry("p25", "Acknowledgment Guarantee", Verdict::Pass);
    in_part.unverified = Some("the slow subscriber: found dead before it overflowed".into());
    results.push(in_part);
    for i in 0..20 {
        results.push(entry(
            &format!("rules:rule-{i}"),
            "Every response carries one request id",
            Verdict::Pass,
        ));
    }
    let mut report = dx_conformance::Report::unreachable(
        "http://127.0.0.1:9",
        "unused",
        dx_conformance::CaseConfig {
            cases: 100,
            seed: 42,
        },
        std::time::Duration::from_secs(41),
    );
    report.problem = None;
    report.described = Some(dx_conformance::runner::Described {
        name: "dx-reference".into(),
        version: "0.1.0".into(),
        mutant: None,
        profile: "conformance".into(),
        discovery_hash: format!("sha256:{}", "5e1f".repeat(16)),
    });
    report.results = results;
    report.replays = vec![(
        "p12".into(),
        "dx-conformance replay dx-replays/p12.json".into(),
    )];
    report
}

/// Layout facts a script measures in the page and writes into it, for `--dump-dom`.
const MEASURE: &str = r#"<script>
(function(){
var doc=document.documentElement;
var first=document.querySelector('tr.fail');
var nav=document.querySelector('nav.failures');
var wrapped=[].slice.call(document.querySelectorAll('td.id .seg, a.id .seg')).filter(function(td){
  var r=document.createRange();r.selectNodeContents(td);return r.getClientRects().length>1;}).length;
var q=document.getElementById('q');q.value='connection reset';q.dispatchEvent(new Event('input'));
var found=document.querySelectorAll('tr.check:not([hidden])').length;
q.value='';q.dispatchEvent(new Event('input'));
var box=document.querySelector('.filter input[value=pass]');box.checked=false;box.dispatchEvent(new Event('change'));
var withoutPasses=document.querySelectorAll('tr.check:not([hidden])').length;
var facts={scrollWidth:doc.scrollWidth,innerWidth:window.innerWidth,innerHeight:window.innerHeight,
  firstFailureTop:first.getBoundingClientRect().top,firstFailureId:first.id,navTop:nav.getBoundingClientRect().top,
  wrappedIds:wrapped,foundByText:found,withoutPasses:withoutPasses,rows:document.querySelectorAll('tr.check').length};
var pre=document.createElement('pre');pre.id='layout';pre.textContent=JSON.stringify(facts);document.body.appendChild(pre);
})();
</script>"#;

/// Headless Chromium on `url` with `flags`: its standard output.
fn chromium(url: &str, flags: &[String]) -> Option<String> {
    let chromium = tool("chromium")?;
    // A profile of its own: tests run Chromium side by side.
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let profile = std::env::temp_dir().join(format!(
        "dx-chromium-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .output()
        .unwrap();
    std::fs::remove_dir_all(profile).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The HTML report of a triage run, in headless Chromium at 1400 and 800 px: no
/// horizontal overflow, ids on one line, the failures listed within the first screen and
/// the first row a failure, the filter working; screenshots kept in `target/screenshots/`.
#[test]
fn the_html_report_reads_at_1400_and_800_pixels() {
    let report = triage_fixture();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let html = dx_conformance::report::render_html(&report);
    let page = dir.join("report.html");
    std::fs::write(&page, &html).unwrap();
    let measured = dir.join("report-measured.html");
    std::fs::write(
        &measured,
        html.replace("</body>", &format!("{MEASURE}</body>")),
    )
    .unwrap();
    // JUnit of the same run: the transport failure is an <error>, and Surefire's schema holds.
    let xml = dir.join("report.xml");
    std::fs::write(&xml, dx_conformance::report::render_junit(&report)).unwrap();
    assert!(
        std::fs::read_to_string(&xml)
            .unwrap()
            .contains("<error message=")
    );
    validates_against_surefire(&xml);
    for width in [1400, 800] {
        let shot = dir.join(format!("report-{width}.png"));
        let Some(_) = chromium(
            &format!("file://{}", page.display()),
            &[
                format!("--window-size={width},1000"),
                format!("--screenshot={}", shot.display()),
            ],
        ) else {
            return;
        };
        assert!(
            std::fs::metadata(&shot).unwrap().len() > 10_000,
            "{}",
            shot.display()
        );
        let dom = chromium(
            &format!("file://{}", measured.display()),
            &[format!("--window-size={width},1000"), "--dump-dom".into()],
        )
        .unwrap_or_default();
        let start = dom.find("<pre id=\"layout\">").unwrap() + "<pre id=\"layout\">".len();
        let end = start + dom[start..].find("</pre>").unwrap();
        let facts: Value = serde_json::from_str(&dom[start..end].replace("&quot;", "\"")).unwrap();
        eprintln!("{width} px: {facts}");
        assert_eq!(facts["innerWidth"], width, "{facts}");
        assert!(
            facts["scrollWidth"].as_u64() <= facts["innerWidth"].as_u64(),
            "{width} px: horizontal overflow: {facts}"
        );
        assert_eq!(
            facts["wrappedIds"], 0,
            "{width} px: an id breaks inside a word: {facts}"
        );
        assert_eq!(facts["firstFailureId"], "p12", "failures first: {facts}");
        assert!(
            facts["navTop"].as_f64() < facts["innerHeight"].as_f64(),
            "{width} px: the list of failures is below the first screen: {facts}"
        );
        assert!(
            facts["firstFailureTop"].as_f64() < facts["innerHeight"].as_f64(),
            "{width} px: the first failure is far down: {facts}"
        );
        assert_eq!(facts["foundByText"], 1, "the filter by text: {facts}");
        assert_eq!(
            facts["withoutPasses"].as_u64().unwrap(),
            facts["rows"].as_u64().unwrap() - 20,
            "the filter by verdict: {facts}"
        );
    }
}

/// Colour only where asked: a pipe gets none (it got none before either, but neither did a
/// terminal), `--color always` colours it, and `NO_COLOR` wins over `auto`.
#[test]
fn colour_follows_the_flag_and_no_color() {
    fn args(color: &str) -> Vec<&str> {
        vec![
            "run",
            "--tags",
            "@p12",
            "--cases",
            "5",
            "--no-features",
            "--color",
            color,
        ]
    }
    let always = run(&args("always"), &[("COLUMNS", "80")]);
    assert_eq!(always.status.code(), Some(0));
    let text = String::from_utf8_lossy(&always.stdout);
    assert!(text.contains("\u{1b}[32mPASS"), "{text}");
    // The table fits the COLUMNS given when the width of a terminal is unknown.
    let table = &text[text.find("CHECK").unwrap()..];
    for line in table.lines().take_while(|l| !l.is_empty()) {
        // A coloured verdict adds its escape codes: 5 characters before, 4 after.
        assert!(line.chars().count() <= 80 + 9, "{line:?}");
    }
    for (color, env) in [
        ("auto", vec![]),
        ("never", vec![]),
        ("auto", vec![("NO_COLOR", "1")]),
    ] {
        let out = run(&args(color), &env);
        assert_eq!(out.status.code(), Some(0));
        assert!(!out.stdout.contains(&0x1b), "{color} {env:?}");
        assert!(!out.stderr.contains(&0x1b), "{color} {env:?}");
    }
}

/// `--client-runtime chromium`: the client checks run in Chromium, pass against the
/// reference, and every report says which engine ran the client.
#[test]
fn the_client_checks_run_in_chromium_when_asked() {
    if tool("chromium").is_none() {
        return;
    }
    let out = run(
        &[
            "run",
            "--client-runtime",
            "chromium",
            "--tags",
            "client",
            "--format",
            "json",
        ],
        &[],
    );
    let json = json_report(&out);
    let runtime = json["client_runtime"].as_str().unwrap();
    assert!(runtime.starts_with("Chromium"), "{runtime}");
    let verdicts = verdicts(&json);
    assert!(verdicts.len() >= 10, "{verdicts:?}");
    assert!(verdicts.values().all(|v| v == "pass"), "{verdicts:?}");
    let terminal = run(
        &["run", "--client-runtime", "chromium", "--only", "p10"],
        &[],
    );
    let text = String::from_utf8_lossy(&terminal.stdout);
    assert!(text.contains("client runtime: Chromium"), "{text}");

    // A client failure found in Chromium is saved with its runtime and replays there.
    let mut config = Config::conformance();
    config.mutations = Mutations::with(Some(Mutant::ClientOverlappingAlloc));
    let (_reference, url) = start_reference(config);
    let replays = temp_dir("chromium-replay");
    let out = run(
        &[
            "run",
            "--target",
            &url,
            "--client-runtime",
            "chromium",
            "--only",
            "p10",
            "--replay-dir",
            replays.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let file = replays.join("p10.json");
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(
        saved["client_runtime"]
            .as_str()
            .is_some_and(|r| r.starts_with("Chromium")),
        "{saved}"
    );
    let out = run(&["replay", file.to_str().unwrap()], &[]);
    let replayed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{replayed}");
    assert!(replayed.contains("fails again the same way"), "{replayed}");
    std::fs::remove_dir_all(replays).ok();
}
