//! Feature: production-readiness, Property 9: Delta Patch Round-Trip
//!
//! Black-box form, through the client's `apply_patch` export. proptest generates a base and
//! a target made from it the ways files change (emptied, appended, truncated, an insertion,
//! a deletion, a moved block, unrelated data); the suite writes the DXDP patches between
//! them (`spec/delta.md`) and the client must apply each in its own memory: base to target
//! and back again byte for byte, the identity patch leaving data as it is. The patch applied
//! to another base must be refused with `WRONG_BASE` before the output range is touched, and
//! a corrupted patch must give the exact target or a code, never other bytes. Then every
//! single fault of a patch (each varint boundary, copies outside the base, output past or
//! short of `target_len`, another hash, opcodes, `END`, the header's fields) must give the
//! code `spec/delta.md`'s table names for it.
//!
//! Then, over HTTP, for every delta-capable asset the target publishes (`client.assets`):
//! each older version is fetched whole (`?v=`) as a base, the current one is asked for with
//! `A-IM: dxdp` and `If-None-Match` naming that base, and a `226 IM Used` patch applied by
//! the client must reproduce the current version byte for byte; the current version's tag
//! must answer 304; every 200 and 226 carries its `ETag` and `Vary` (`spec/delta.md`,
//! "Over HTTP").

use proptest::prelude::*;

use crate::cases::{CaseConfig, CaseFailure, for_all, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::client::{ClientArea, area, len, place, published_assets, returned};
use crate::clause::client as cc;
use crate::client::ClientInstance;
use crate::htip::ErrorCode;
use crate::htip::delta;
use crate::http::{Exchange, RequestSpec};
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 9,
    run: run_check,
};

/// What the output range is filled with before a call, to see whether it was written.
const UNTOUCHED: u8 = 0xA5;

fn data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(prop::sample::select(b"abcd <>/\n".to_vec()), 0..3000),
        "[a-z]{1,8}( [a-z]{1,8}){0,400}".prop_map(String::into_bytes),
    ]
}

/// A base, a target made from it, other data, and edits to corrupt a patch with.
#[derive(Debug, Clone)]
struct Pair {
    base: Vec<u8>,
    target: Vec<u8>,
    other: Vec<u8>,
    corruption: Vec<(prop::sample::Index, u8, u8)>,
}

fn pair() -> impl Strategy<Value = Pair> {
    (
        data(),
        data(),
        0u8..7,
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
    )
        .prop_flat_map(|(base, other, kind, a, b)| {
            let (lo, hi) = {
                let (x, y) = (a.index(base.len() + 1), b.index(base.len() + 1));
                (x.min(y), x.max(y))
            };
            let mut target = base.clone();
            match kind {
                0 => target.clear(),
                1 => target.extend(&other),
                2 => target.truncate(lo),
                3 => {
                    target.splice(lo..lo, other.iter().copied());
                }
                4 => {
                    target.drain(lo..hi);
                }
                5 => {
                    let block: Vec<u8> = target.drain(lo..hi).collect();
                    target.extend(block);
                }
                _ => target = other.clone(),
            }
            let corruption =
                prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4);
            (Just(base), Just(target), Just(other), corruption)
        })
        .prop_map(|(base, target, other, corruption)| Pair {
            base,
            target,
            other,
            corruption,
        })
}

/// What one `apply_patch` did: its return value and the output range afterwards.
struct Applied {
    code: i32,
    out: Vec<u8>,
}

/// Places `base` and `patch`, and an output range of `cap` bytes filled with [`UNTOUCHED`],
/// then applies.
fn apply(
    client: &mut ClientInstance,
    base: &[u8],
    patch: &[u8],
    cap: usize,
) -> Result<Applied, CaseFailure> {
    let b = place(client, base, "base")?;
    let p = place(client, patch, "patch")?;
    let fill = vec![UNTOUCHED; cap];
    let o = place(client, &fill, "output range")?;
    let code = returned(
        client.apply_patch((b, len(base)), (p, len(patch)), (o, len(&fill))),
        "apply_patch",
    )?;
    let out = client
        .read(o, cap)
        .map_err(|e| super::memory_failure(cc::INPUT.cite(), e))?;
    Ok(Applied { code, out })
}

fn expect_target(applied: &Applied, target: &[u8], what: &str) -> Result<(), CaseFailure> {
    if applied.code != len(target) {
        return Err(CaseFailure::plain(
            cc::APPLY_EXPORT.cite(),
            format!(
                "{what}: apply_patch returned {} for a target of {} bytes",
                applied.code,
                target.len()
            ),
        ));
    }
    if applied.out.get(..target.len()) != Some(target) {
        let at = applied
            .out
            .iter()
            .zip(target)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return Err(CaseFailure::plain(
            cc::ROUND_TRIP.cite(),
            format!(
                "{what}: the output differs from the target at byte {at} of {}",
                target.len()
            ),
        ));
    }
    Ok(())
}

/// `patch` applied to `base`, which is not the base it names, must be refused with
/// `WRONG_BASE` and leave the output range as it was.
fn expect_wrong_base(
    client: &mut ClientInstance,
    base: &[u8],
    patch: &[u8],
    cap: usize,
    what: &str,
) -> Result<(), CaseFailure> {
    let applied = apply(client, base, patch, cap)?;
    let wrong = -i32::from(ErrorCode::WrongBase.code());
    if applied.code != wrong {
        return Err(CaseFailure::plain(
            cc::WRONG_BASE.cite(),
            format!(
                "apply_patch to {what} returned {}, not {wrong} (WRONG_BASE)",
                applied.code
            ),
        ));
    }
    if applied.out.iter().any(|b| *b != UNTOUCHED) {
        return Err(CaseFailure::plain(
            cc::APPLIER.cite(),
            format!("apply_patch to {what} wrote into the output range"),
        ));
    }
    Ok(())
}

fn case(client_area: &ClientArea, pair: &Pair) -> Result<(), CaseFailure> {
    let diff = |from: &[u8], to: &[u8]| {
        delta::diff(from, to)
            .map_err(|e| CaseFailure::plain("a patch the suite can write", e.to_string()))
    };
    let mut client = client_area.instance()?;
    let cap = pair.target.len().max(pair.base.len()) + 16;

    let forward = diff(&pair.base, &pair.target)?;
    let applied = apply(&mut client, &pair.base, &forward, cap)?;
    expect_target(&applied, &pair.target, "base to target")?;

    let backward = diff(&pair.target, &pair.base)?;
    let applied = apply(&mut client, &pair.target, &backward, cap)?;
    expect_target(&applied, &pair.base, "target back to base")?;

    let identity = diff(&pair.target, &pair.target)?;
    let applied = apply(&mut client, &pair.target, &identity, cap)?;
    expect_target(&applied, &pair.target, "the identity patch")?;

    // Another base: refused before the output is touched. One of another length, and one of
    // the same length with a single byte changed, which only the hash tells apart.
    if pair.other != pair.base {
        expect_wrong_base(&mut client, &pair.other, &forward, cap, "another base")?;
    }
    if let Some((at, _, _)) = pair.corruption.first().filter(|_| !pair.base.is_empty()) {
        let mut changed = pair.base.clone();
        let i = at.index(changed.len());
        changed[i] ^= 0x01;
        let what = format!("the base with byte {i} of {} changed", changed.len());
        expect_wrong_base(&mut client, &changed, &forward, cap, &what)?;
    }

    // A corrupted patch: the exact target it names, or a code.
    let mut corrupted = forward.clone();
    for (at, byte, kind) in &pair.corruption {
        if corrupted.is_empty() {
            break;
        }
        let i = at.index(corrupted.len());
        match kind {
            0 => corrupted[i] = *byte,
            1 => corrupted.truncate(i),
            _ => corrupted.insert(i, *byte),
        }
    }
    let applied = apply(&mut client, &pair.base, &corrupted, cap)?;
    if applied.code >= 0 {
        let named = delta::PatchHeader::read(&corrupted).map(|h| h.target_hash);
        let produced = applied
            .out
            .get(..usize::try_from(applied.code).unwrap_or(usize::MAX))
            .map(delta::hash);
        if named.is_err() || produced != named.ok() {
            return Err(CaseFailure::plain(
                cc::APPLIER.cite(),
                format!(
                    "apply_patch accepted a corrupted patch and returned {} bytes that are not the target it names",
                    applied.code
                ),
            ));
        }
    } else if !(-27..=-1).contains(&applied.code) {
        return Err(CaseFailure::plain(
            cc::CODES.cite(),
            format!("apply_patch returned {}", applied.code),
        ));
    }
    // An output range one byte too small.
    if !pair.target.is_empty() {
        let applied = apply(&mut client, &pair.base, &forward, pair.target.len() - 1)?;
        let limit = -i32::from(ErrorCode::LimitExceeded.code());
        if applied.code != limit {
            return Err(CaseFailure::plain(
                cc::APPLY_EXPORT.cite(),
                format!(
                    "apply_patch into {} bytes for a target of {} returned {}",
                    pair.target.len() - 1,
                    pair.target.len(),
                    applied.code
                ),
            ));
        }
    }
    Ok(())
}

/// The base of the single-fault patches: 64 bytes.
fn fault_base() -> Vec<u8> {
    (0u8..64).map(|i| b'a' + i % 26).collect()
}

/// The target of the single-fault patches: 16 bytes of the base from offset 8, then 4 new.
fn fault_target() -> Vec<u8> {
    let mut t = fault_base()[8..24].to_vec();
    t.extend_from_slice(b"NEW!");
    t
}

/// An unsigned LEB128 varint (`spec/delta.md`), alone, so a fault can be put beside it.
fn varint(value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    delta::varint(&mut out, value);
    out
}

/// A `COPY` of `len` base bytes at `shift` from the cursor (zigzag-encoded).
fn copy_op(shift: i64, len: u64) -> Vec<u8> {
    let mut op = vec![delta::opcode::COPY];
    op.extend(varint(delta::zigzag(shift)));
    op.extend(varint(len));
    op
}

/// An `INSERT` of `bytes`.
fn insert_op(bytes: &[u8]) -> Vec<u8> {
    let mut op = vec![delta::opcode::INSERT];
    op.extend(varint(bytes.len() as u64));
    op.extend_from_slice(bytes);
    op
}

/// The header naming the fault base and `target`, then `instructions`.
fn fault_patch(target: &[u8], instructions: &[&[u8]]) -> Result<Vec<u8>, CaseFailure> {
    let header = delta::PatchHeader::between(&fault_base(), target)
        .map_err(|e| CaseFailure::plain("a patch the suite can write", e.to_string()))?;
    let mut patch = header.to_bytes().to_vec();
    for part in instructions {
        patch.extend_from_slice(part);
    }
    Ok(patch)
}

/// One fault in an otherwise valid patch from the fault base to the fault target, and the
/// codes `spec/delta.md` gives it (two where its table names two conditions the fault meets).
type PatchFault = (&'static str, Vec<u8>, &'static [ErrorCode]);

fn patch_faults() -> Result<Vec<PatchFault>, CaseFailure> {
    use ErrorCode::*;
    let target = fault_target();
    let copy = copy_op(8, 16);
    let insert = insert_op(b"NEW!");
    let end = [delta::opcode::END];
    // A varint of ten bytes whose last carries bit 63: valid, and far outside the base.
    let mut bit_63 = vec![delta::opcode::COPY];
    bit_63.extend([0x80; 9]);
    bit_63.push(0x01);
    bit_63.extend(varint(16));
    let mut beyond_64 = vec![delta::opcode::COPY];
    beyond_64.extend([0x80; 9]);
    beyond_64.push(0x02);
    beyond_64.extend(varint(16));
    let mut eleven = vec![delta::opcode::COPY];
    eleven.extend([0x80; 10]);
    eleven.push(0x00);
    eleven.extend(varint(16));
    let valid = fault_patch(&target, &[&copy, &insert, &end])?;
    let with_header = |at: usize, byte: u8| {
        let mut p = valid.clone();
        p[at] = byte;
        p
    };
    let mut other = target.clone();
    other[19] = b'?';
    Ok(vec![
        (
            "a COPY delta of 2^63 in ten bytes (a valid varint, far outside the base)",
            fault_patch(&target, &[&bit_63, &insert, &end])?,
            &[BadCopy],
        ),
        (
            "a varint whose tenth byte carries bits beyond 64",
            fault_patch(&target, &[&beyond_64, &insert, &end])?,
            &[BadVarint],
        ),
        (
            "an eleven-byte varint",
            fault_patch(&target, &[&eleven, &insert, &end])?,
            &[BadVarint],
        ),
        (
            "a COPY past the base's end",
            fault_patch(&target, &[&copy_op(60, 16), &insert, &end])?,
            &[BadCopy],
        ),
        (
            "a COPY before the base's start",
            fault_patch(&target, &[&copy_op(-1, 16), &insert, &end])?,
            &[BadCopy],
        ),
        (
            "an INSERT past target_len",
            fault_patch(&target, &[&copy, &insert_op(b"NEW!!"), &end])?,
            &[TargetOverflow],
        ),
        (
            "END before target_len",
            fault_patch(&target, &[&copy, &end])?,
            &[TargetShort],
        ),
        (
            "the right length with another hash",
            fault_patch(&target, &[&copy, &insert_op(b"NEW?"), &end])?,
            &[TargetMismatch],
        ),
        (
            "an unknown opcode",
            fault_patch(&target, &[&copy, &[0x07], &insert, &end])?,
            &[UnknownOpcode],
        ),
        (
            "no END",
            fault_patch(&target, &[&copy, &insert])?,
            &[MissingEnd, Truncated],
        ),
        (
            "a byte after END",
            fault_patch(&target, &[&copy, &insert, &end, &end])?,
            &[TrailingBytes],
        ),
        (
            "a COPY cut after its delta",
            fault_patch(&target, &[&copy[..2]])?,
            &[Truncated, MissingEnd],
        ),
        (
            "an INSERT whose bytes run past the patch",
            fault_patch(&target, &[&copy, &insert[..4]])?,
            &[Truncated, MissingEnd],
        ),
        ("another magic", with_header(0, b'X'), &[BadMagic]),
        ("version 2", with_header(4, 2), &[UnsupportedVersion]),
        ("a flag bit", with_header(5, 1), &[UnsupportedFlags]),
        ("a reserved byte", with_header(7, 1), &[UnsupportedFlags]),
        (
            "a header cut at 31 bytes",
            valid[..delta::HEADER_LEN - 1].to_vec(),
            &[Truncated],
        ),
        (
            "a header naming other bytes of the same length as the target",
            fault_patch(&other, &[&copy, &insert, &end])?,
            &[TargetMismatch],
        ),
    ])
}

/// Applies one single-fault patch to the fault base: the code must be one the fault's row
/// names.
fn patch_fault(
    client_area: &ClientArea,
    (name, patch, codes): &PatchFault,
) -> Result<(), CaseFailure> {
    let mut client = client_area.instance()?;
    let applied = apply(&mut client, &fault_base(), patch, fault_target().len())?;
    if codes.iter().any(|c| applied.code == -i32::from(c.code())) {
        return Ok(());
    }
    let names: Vec<String> = codes
        .iter()
        .map(|c| format!("-{} ({})", c.code(), c.name()))
        .collect();
    Err(CaseFailure::plain(
        cc::PATCH_CODES.cite(),
        format!(
            "{name}: apply_patch returned {}, not {}",
            applied.code,
            names.join(" or ")
        ),
    ))
}

/// One asset version the target publishes, to patch from.
#[derive(Debug, Clone)]
struct Published {
    path: String,
    base: String,
    current: String,
}

fn published(target: &Target) -> Vec<Published> {
    let mut out = Vec::new();
    for asset in published_assets(target) {
        if let Some((current, older)) = asset.versions.split_last() {
            for base in older {
                out.push(Published {
                    path: asset.path.clone(),
                    base: base.clone(),
                    current: current.clone(),
                });
            }
        }
    }
    out
}

fn tag_of(ex: &Exchange, clause: &crate::clause::Clause, hash: &str) -> Result<(), CaseFailure> {
    let want = format!("\"{hash}\"");
    match ex.header("etag") {
        Some(tag) if tag == want => Ok(()),
        other => Err(CaseFailure::violates(
            ex,
            clause,
            format!("ETag {other:?}, the version is {want}"),
        )),
    }
}

fn vary_of(ex: &Exchange) -> Result<(), CaseFailure> {
    let vary = ex.header("vary").unwrap_or_default().to_ascii_lowercase();
    if vary.contains("a-im") && vary.contains("if-none-match") {
        Ok(())
    } else {
        Err(CaseFailure::violates(
            ex,
            &cc::VARY,
            format!("Vary {vary:?}"),
        ))
    }
}

async fn over_http(
    target: &Target,
    client_area: &ClientArea,
    p: &Published,
) -> Result<(), CaseFailure> {
    let http = target.http();
    let send = |spec: RequestSpec| async {
        http.send(spec)
            .await
            .map_err(|e| CaseFailure::plain("an answer", e.to_string()))
    };
    let base = send(RequestSpec::get(format!("{}?v={}", p.path, p.base))).await?;
    if base.status != 200 {
        return Err(CaseFailure::violates(
            &base,
            &cc::OLDER_VERSIONS,
            format!("HTTP {}", base.status),
        ));
    }
    tag_of(&base, &cc::OLDER_VERSIONS, &p.base)?;
    if delta::hash_hex(&base.body) != p.base {
        return Err(CaseFailure::violates(
            &base,
            &cc::ETAG,
            "the body's hash is not the version asked for",
        ));
    }
    let full = send(RequestSpec::get(p.path.clone())).await?;
    if full.status != 200 {
        return Err(CaseFailure::violates(
            &full,
            &cc::ETAG,
            format!("HTTP {}", full.status),
        ));
    }
    tag_of(&full, &cc::ETAG, &p.current)?;
    vary_of(&full)?;
    if delta::hash_hex(&full.body) != p.current {
        return Err(CaseFailure::violates(
            &full,
            &cc::ETAG,
            "the body's hash is not the current version's",
        ));
    }
    let same = send(
        RequestSpec::get(p.path.clone()).header("If-None-Match", format!("\"{}\"", p.current)),
    )
    .await?;
    if same.status != 304 {
        return Err(CaseFailure::violates(
            &same,
            &cc::NOT_MODIFIED,
            format!("HTTP {}", same.status),
        ));
    }
    let negotiated = send(
        RequestSpec::get(p.path.clone())
            .header("A-IM", "dxdp")
            .header("If-None-Match", format!("\"{}\"", p.base)),
    )
    .await?;
    tag_of(&negotiated, &cc::IM_USED, &p.current)?;
    vary_of(&negotiated)?;
    match negotiated.status.as_u16() {
        200 if negotiated.body == full.body => Ok(()),
        226 => {
            let im = negotiated.header("im").unwrap_or_default();
            let delta_base = negotiated.header("delta-base").unwrap_or_default();
            if !im.eq_ignore_ascii_case("dxdp") || delta_base != format!("\"{}\"", p.base) {
                return Err(CaseFailure::violates(
                    &negotiated,
                    &cc::IM_USED,
                    format!("IM {im:?}, Delta-Base {delta_base:?}"),
                ));
            }
            let mut client = client_area.instance()?;
            let applied = apply(
                &mut client,
                &base.body,
                &negotiated.body,
                full.body.len() + 16,
            )?;
            // A patch the client cannot turn into the current version is the server's fault
            // here: the client's applier was checked above on the suite's own patches.
            expect_target(
                &applied,
                &full.body,
                &format!("the patch {} served from {}", p.path, p.base),
            )
            .map_err(|f| CaseFailure::violates(&negotiated, &cc::IM_USED, f.actual))
        }
        other => Err(CaseFailure::violates(
            &negotiated,
            &cc::IM_USED,
            format!("HTTP {other}"),
        )),
    }
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let client = match area(target).await {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let generated = for_all(pair(), config, |pair| {
            let result = case(&client, &pair);
            async move { result }
        })
        .await;
        if generated.is_failed() {
            return CheckOutcome::Ran(generated);
        }
        let faults = match patch_faults() {
            Ok(f) => f,
            Err(failure) => return CheckOutcome::SetupFailed(failure),
        };
        let faulted = for_each(&faults, |f| {
            let result = patch_fault(&client, f);
            async move { result }
        })
        .await;
        let assets = published(target);
        let served = for_each(&assets, |p| over_http(target, &client, p)).await;
        CheckOutcome::Ran(generated.followed_by(faulted).followed_by(served))
    })
}
