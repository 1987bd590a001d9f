#!/usr/bin/env python3
"""The suite's own mutation score over the client area, without rebuilding the suite.

`coverage/suite-mutation-score.sh` runs cargo-mutants, which rebuilds dx-server, the suite's
library and both test binaries for every mutant: about 26 s a mutant on two cores, five hours
for the client area's 662. Most of that build is not needed. The suite can judge any client
`.wasm` (`--client`), and it links no client or HTIP code of its own (it has its own codecs),
so a mutant of the client is judged exactly by building only the mutated `.wasm` and running
the prebuilt `dx-conformance` with `--client` against the embedded reference. A mutant of
`dx-htip` reaches the server too when the server calls the mutated function (the demo page's
encoder, patch generation, the hash); those are judged against a mutated `dx-reference`,
built once per mutant, whose build script builds the mutated client it serves.

Which mode a mutant needs is read from the server binary itself: a function whose name
appears among the `dx_htip` symbols of an unmutated debug `dx-reference` is reachable from
the server (the linker drops what nothing calls), and so is every mutant outside a function
(a constant is inlined wherever it is used).

The mutants are cargo-mutants' own (`cargo mutants --list --json --diff`, with the function
exclusions of coverage/suite-mutation-score.sh). A mutant is caught when any selected check or
scenario is anything but a plain pass, as black_box.rs judges the embedded reference;
unviable when its build fails; a timeout when the run exceeds --timeout.

usage: coverage/client-suite-mutants.py [--jobs N] [--timeout S] [--limit N] [--mode MODE]
                                        [--shuffle] [--known DIR] [--name NAME] [--report]
                                        [FILE...]
  FILE        files to mutate (default: reference/client/src/*.rs reference/htip/src/*.rs)
  --jobs N    mutants judged at once, each in a copy of the tree of its own (default 2)
  --timeout S seconds one suite run may take (default 90)
  --limit N   stop after N mutants
  --mode M    only `client` (the .wasm alone) or `server` mutants
  --shuffle   judge in a random order (each mode apart), so a run stopped early is a sample
  --known DIR outcome lists (caught.txt, unviable.txt) of earlier runs: those mutants are
              skipped; missed and timed-out ones are judged again
  --name NAME results in target/mutants/suite-NAME (default client-fast)
  --report    judge nothing: write the outcome lists and the score of what was judged, over
              the mutants the current exclusions generate, with --known's for the rest

Outcomes go to target/mutants/suite-NAME/outcomes.jsonl, one line per mutant, appended as
they come, so a stopped run resumes where it stopped; caught.txt, missed.txt, timeout.txt and
unviable.txt are written from it at the end, in cargo-mutants' format.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TAGS = "@p09,@p10,@p11"
KINDS = ("caught", "missed", "timeout", "unviable")


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def excluded_functions() -> list[str]:
    """The function exclusions of suite-mutation-score.sh, as cargo-mutants regexes."""
    text = open(os.path.join(ROOT, "coverage/suite-mutation-score.sh"), encoding="utf-8").read()
    block = text.split("excluded_functions=(", 1)[1].split("\n)", 1)[0]
    return ["(" + line.strip().strip('"').rsplit("|", 1)[0] + ")"
            for line in block.splitlines() if line.strip().startswith('"')]


def list_mutants(files: list[str]) -> list[dict]:
    args = ["cargo", "mutants", "--list", "--json", "--diff"]
    for f in files:
        args += ["--file", f]
    for regex in excluded_functions():
        args += ["--exclude-re", regex]
    out = subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def server_symbols(binary: str) -> set[str]:
    """The last path segment of every dx_htip function linked into `binary`."""
    out = subprocess.run(["nm", "-C", "--defined-only", binary], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        if "dx_htip::" not in line:
            continue
        symbol = line.split(" ", 2)[-1]
        symbol = re.sub(r"::h[0-9a-f]{16}$", "", symbol)
        symbol = re.sub(r"<[^<>]*>", "", symbol)  # generic arguments, innermost first
        symbol = re.sub(r"<[^<>]*>", "", symbol)
        names.add(symbol.rsplit("::", 1)[-1])
    return names


def mode_of(mutant: dict, server_names: set[str]) -> str:
    if mutant["file"].startswith("reference/client/"):
        return "client"
    function = mutant.get("function")
    if not function:
        return "server"
    name = re.sub(r"<[^<>]*>", "", function["function_name"]).rsplit("::", 1)[-1]
    return "server" if name in server_names else "client"


def copy_tree(dest: str) -> None:
    os.makedirs(dest, exist_ok=True)
    subprocess.run(["rsync", "-a", "--delete", "--exclude", "/target", "--exclude", "/.git",
                    ROOT + "/", dest + "/"], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_property(check_id: str) -> bool:
    return re.fullmatch(r"p\d\d", check_id) is not None


def judged(failing: list[str]) -> str:
    """`caught` or `missed` from the checks and scenarios that did not plainly pass, each as
    "<id> <verdict>", as `cargo test` judges them: black_box.rs fails a property check that
    does anything but pass plainly (a failure, not verified, a pass in part), while the
    cucumber test fails only on a failing scenario (one not verified is skipped)."""
    for item in failing:
        check_id, _, verdict = item.partition(" ")
        if verdict == "fail" or is_property(check_id):
            return "caught"
    return "missed"


def run_suite(cli: str, env: dict, timeout: int, report: str,
              extra: list[str]) -> tuple[str, str]:
    """The client checks and scenarios against the target, judged by [`judged`]."""
    if os.path.exists(report):
        os.remove(report)
    args = [cli, "run", "--tags", TAGS, "--format", "json", "--out", report, *extra]
    try:
        subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", f"over {timeout} s"
    try:
        checks = json.load(open(report, encoding="utf-8"))["checks"]
    except (OSError, ValueError, KeyError):
        return "caught", "no report"
    if not checks:
        return "missed", "no check ran"
    failing = [f"{c['id']} {c['verdict']}" for c in checks
               if c["verdict"] != "pass" or c.get("reason")]
    return judged(failing), ", ".join(failing) or f"{len(checks)} pass"


def plain_env() -> dict:
    """The environment of every build and run: no target, client or services from outside
    (the embedded reference on its defaults), the server's build failing without wasm-opt."""
    env = dict(os.environ, DX_REQUIRE_WASM_OPT="1", CARGO_TERM_COLOR="never")
    for var in ("DX_TARGET", "DX_CLIENT", "DATABASE_URL", "REDIS_URL"):
        env.pop(var, None)
    return env


class Worker:
    """A copy of the tree with a target directory of its own; one mutant at a time."""

    def __init__(self, base: str, index: int, cli: str, timeout: int) -> None:
        self.tree = os.path.join(base, f"tree-{index}")
        self.cli = cli
        self.timeout = timeout
        copy_tree(self.tree)
        self.env = plain_env()
        # Linking dx-reference is most of a server mutant's build; mold makes it faster.
        if shutil.which("mold"):
            self.env["CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS"] = "-C link-arg=-fuse-ld=mold"

    def cargo(self, *args: str) -> bool:
        done = subprocess.run(["cargo", *args], cwd=self.tree, env=self.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        return done.returncode == 0

    def build_client(self) -> str | None:
        """The client as it ships, by reference/client/release.sh (rustc's `wasm` profile,
        then `wasm-opt -Oz`); a mutant that only pushes it over the size budget is still
        judged, so the script's exit status is not the test."""
        shipped = os.path.join(self.tree, "target/wasm32-unknown-unknown/wasm/dx_client.opt.wasm")
        if os.path.exists(shipped):
            os.remove(shipped)
        subprocess.run(["bash", "reference/client/release.sh"], cwd=self.tree, env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return shipped if os.path.exists(shipped) else None

    def suite(self, extra: list[str]) -> tuple[str, str]:
        return run_suite(self.cli, self.env, self.timeout,
                         os.path.join(self.tree, "report.json"), extra)

    def judge_client(self) -> tuple[str, str]:
        wasm = self.build_client()
        if wasm is None:
            return "unviable", "the client does not build"
        return self.suite(["--client", wasm])

    def judge_server(self) -> tuple[str, str]:
        if not self.cargo("build", "-p", "dx-server", "--bin", "dx-reference"):
            return "unviable", "dx-reference does not build"
        port = free_port()
        server = subprocess.Popen(
            [os.path.join(self.tree, "target/debug/dx-reference"), "--profile", "conformance",
             "--bind", f"127.0.0.1:{port}"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if server.poll() is not None:
                    return "caught", "dx-reference exited at start-up"
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.2)
            else:
                return "caught", "dx-reference never listened"
            return self.suite(["--target", f"http://127.0.0.1:{port}"])
        finally:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()

    def judge(self, mutant: dict, mode: str) -> tuple[str, str]:
        path = os.path.join(self.tree, mutant["file"])
        original = open(path, encoding="utf-8").read()
        applied = subprocess.run(["patch", "-s", "-p0", path], input=mutant["diff"],
                                 text=True, capture_output=True)
        try:
            if applied.returncode != 0:
                return "unviable", "the diff does not apply: " + applied.stdout.strip()
            return self.judge_client() if mode == "client" else self.judge_server()
        finally:
            with open(path, "w", encoding="utf-8") as f:
                f.write(original)


def known_outcomes(directory: str | None) -> set[str]:
    names: set[str] = set()
    for kind in ("caught", "unviable"):
        if directory and os.path.exists(os.path.join(directory, f"{kind}.txt")):
            names |= {line.strip() for line in open(os.path.join(directory, f"{kind}.txt"))
                      if line.strip()}
    return names


def read_outcomes(path: str) -> dict[str, dict]:
    """The outcomes judged so far. A catch is judged again from its detail, so the lists
    follow [`judged`] even for lines an earlier version of this script wrote."""
    done: dict[str, dict] = {}
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            record = json.loads(line)
            detail = record.get("detail", "")
            if record["outcome"] == "caught" and re.fullmatch(r"([\w:/-]+ \w+)(, [\w:/-]+ \w+)*", detail):
                record["outcome"] = judged(detail.split(", "))
            done[record["name"]] = record
    return done


def report(out_dir: str, done: dict[str, dict]) -> int:
    """Writes caught.txt, missed.txt, timeout.txt and unviable.txt and prints the score."""
    for kind in KINDS:
        with open(os.path.join(out_dir, f"{kind}.txt"), "w", encoding="utf-8") as f:
            f.writelines(name + "\n" for name, r in sorted(done.items()) if r["outcome"] == kind)
    for mode in ("client", "server", "earlier", None):
        records = [r for r in done.values() if mode is None or r["mode"] == mode]
        tally = {kind: sum(1 for r in records if r["outcome"] == kind) for kind in KINDS}
        viable = tally["caught"] + tally["missed"] + tally["timeout"]
        score = 100.0 * tally["caught"] / viable if viable else 0.0
        print(f"{mode or 'all':6}: caught {tally['caught']}, missed {tally['missed']}, "
              f"timeout {tally['timeout']}, unviable {tally['unviable']}: {score:.1f} %")
    print(f"outcome lists in {out_dir}")
    for name, record in sorted(done.items()):
        if record["outcome"] == "missed":
            print(f"  missed: {name}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("files", nargs="*")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=90)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--mode", choices=("client", "server"))
    parser.add_argument("--known")
    parser.add_argument("--name", default="client-fast")
    parser.add_argument("--shuffle", action="store_true")
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args()
    os.chdir(ROOT)
    files = args.files or sorted(glob.glob("reference/client/src/*.rs")
                                 + glob.glob("reference/htip/src/*.rs"))
    out_dir = os.path.join(ROOT, "target/mutants", f"suite-{args.name}")
    os.makedirs(out_dir, exist_ok=True)
    outcomes_path = os.path.join(out_dir, "outcomes.jsonl")

    if args.report:
        # Over the mutants the current exclusions generate: this run's outcomes, and an
        # earlier run's (--known) for those this one did not judge.
        current = {m["name"] for m in list_mutants(files)}
        done = {n: r for n, r in read_outcomes(outcomes_path).items() if n in current}
        for kind in KINDS:
            path = os.path.join(args.known or "", f"{kind}.txt")
            if args.known and os.path.exists(path):
                for name in (line.strip() for line in open(path, encoding="utf-8")):
                    if name in current and name not in done:
                        done[name] = {"name": name, "outcome": kind, "mode": "earlier"}
        log(f"{len(done)} of the {len(current)} mutants judged")
        return report(out_dir, done)

    log("== building the suite and an unmutated dx-reference")
    subprocess.run(["cargo", "build", "--quiet", "-p", "dx-conformance-cli", "-p", "dx-server",
                    "--bin", "dx-conformance", "--bin", "dx-reference"], check=True,
                   env=plain_env())
    cli = os.path.join(ROOT, "target/debug/dx-conformance")
    server_names = server_symbols(os.path.join(ROOT, "target/debug/dx-reference"))
    verdict, detail = run_suite(cli, plain_env(), args.timeout,
                                os.path.join(out_dir, "baseline.json"), [])
    if verdict != "missed":
        log(f"the client checks do not pass against the unmutated reference: {detail}")
        return 1

    mutants = list_mutants(files)
    done = read_outcomes(outcomes_path)
    skip = known_outcomes(args.known)
    todo = [(m, mode_of(m, server_names)) for m in mutants
            if m["name"] not in done and m["name"] not in skip]
    if args.mode:
        todo = [(m, mode) for m, mode in todo if mode == args.mode]
    if args.shuffle:
        random.shuffle(todo)
    # The quick ones first: a stopped run has judged as many as it could.
    todo.sort(key=lambda item: item[1] != "client")
    if args.limit is not None:
        todo = todo[: args.limit]
    counts = {mode: sum(1 for _, m in todo if m == mode) for mode in ("client", "server")}
    log(f"== {len(mutants)} mutants, {len(done)} judged in this directory, {len(skip)} known "
        f"from {args.known}; now {counts['client']} by the .wasm alone, "
        f"{counts['server']} with a mutated dx-reference")

    workers = [Worker(out_dir, i, cli, args.timeout) for i in range(args.jobs)]
    free = list(workers)
    lock = threading.Lock()
    started = time.monotonic()

    def judge(item: tuple[dict, str]) -> None:
        mutant, mode = item
        with lock:
            worker = free.pop()
        began = time.monotonic()
        try:
            outcome, detail = worker.judge(mutant, mode)
        finally:
            with lock:
                free.append(worker)
        record = {"name": mutant["name"], "outcome": outcome, "mode": mode,
                  "seconds": round(time.monotonic() - began, 1), "detail": detail}
        with lock:
            with open(outcomes_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            done[mutant["name"]] = record
            log(f"{len(done):4} {time.monotonic() - started:7.0f}s {outcome:8} "
                f"{record['seconds']:5}s {mode:6} {mutant['name']}")

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for future in [pool.submit(judge, item) for item in todo]:
            future.result()

    return report(out_dir, done)

if __name__ == "__main__":
    sys.exit(main())
