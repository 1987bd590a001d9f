//! Feature: production-readiness, Property 11: Malformed Stream Resilience
//!
//! Black-box form, through `render_stream` in the MockHost. proptest generates three kinds
//! of input: valid pages (operations that only name nodes already created and templates
//! already cached), random bytes, and valid pages with bytes flipped, cut or inserted. Every
//! call must return (no trap, no endless loop: wasmi's fuel ends it) with 0 or a negated
//! code of `spec/htip.md`; a stream the spec's rules refuse must be refused; a refused
//! stream must cause no page operation; an accepted one must cause exactly its operations,
//! in order, with exactly its text, and the client must then count one node per `CLONE`
//! and one template per distinct id cached (pages cache a template again now and then), and
//! answer `on_event` for exactly the handlers attached; after `reset`, all of it is
//! forgotten. Then every structural error code is provoked by a
//! stream with that one fault and must come back exactly, as must the state codes and a
//! range outside the client's memory.

use proptest::prelude::*;

use crate::cases::{CaseConfig, CaseFailure, for_all, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::client::{ClientArea, area, len, place, returned};
use crate::clause::client as cc;
use crate::client::{ClientInstance, DomOp};
use crate::htip::stream::{self, opcode};
use crate::htip::{ErrorCode, Event, HtipOp};
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 11,
    run: run_check,
};

/// Handlers the many-handlers page attaches (the client may refuse more than it can track,
/// with `LIMIT_EXCEEDED`, before any page operation).
const MANY_HANDLERS: u32 = 1_000;

/// The templates every generated page defines and caches first.
/// The pages' second template has the largest id there is, so a client that tracks fewer
/// than 65,536 template ids refuses it.
const HIGH: u16 = u16::MAX;
const TEMPLATES: [(u16, &str); 2] = [(1, "<li class=\"item\"></li>"), (HIGH, "<p>ünïcödé</p>")];

/// One step of a page; nodes are picked among those that exist when it runs.
#[derive(Debug, Clone)]
enum Step {
    Clone(u16),
    SetText(prop::sample::Index, String),
    SetAttr(prop::sample::Index, String, String),
    Toggle(prop::sample::Index, String, bool),
    Listen(prop::sample::Index, u8, u32),
    Append(prop::sample::Index, prop::sample::Index),
    Remove(prop::sample::Index),
    /// Caches a template again: it replaces the HTML and is still one template.
    Recache(u16),
    Batch(Vec<Step>),
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z -]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(24).collect()),
        Just("<script>alert(1)</script> & \"quotes\"".to_owned()),
        // The first and last scalar of each UTF-8 length, and either side of the surrogates.
        Just("\u{80}\u{7FF}\u{800}\u{D7FF}\u{E000}\u{FFFF}\u{10000}\u{10FFFF}".to_owned()),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let leaf = prop_oneof![
        prop::sample::select(vec![1, HIGH]).prop_map(Step::Clone),
        (any::<prop::sample::Index>(), text()).prop_map(|(n, t)| Step::SetText(n, t)),
        (any::<prop::sample::Index>(), text(), text()).prop_map(|(n, k, v)| Step::SetAttr(n, k, v)),
        (any::<prop::sample::Index>(), text(), any::<bool>())
            .prop_map(|(n, c, e)| Step::Toggle(n, c, e)),
        // A few handlers from a small set, so a page attaches one handler twice now and then;
        // and the largest one `spec/htip.md` allows (2^31 - 1).
        (
            any::<prop::sample::Index>(),
            0u8..6,
            prop_oneof![4 => 0u32..4, 4 => 0u32..1_000_000, 1 => Just(i32::MAX as u32)]
        )
            .prop_map(|(n, e, h)| Step::Listen(n, e, h)),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(p, c)| Step::Append(p, c)),
        any::<prop::sample::Index>().prop_map(Step::Remove),
        prop::sample::select(vec![1, HIGH]).prop_map(Step::Recache),
    ];
    prop_oneof![
        6 => leaf.clone(),
        1 => prop::collection::vec(leaf, 0..5).prop_map(Step::Batch),
    ]
}

/// The operations of `steps`, after caching both templates.
fn page(steps: &[Step]) -> Vec<HtipOp> {
    fn push(step: &Step, created: &mut u32, ops: &mut Vec<HtipOp>) {
        // Handle 0 (the root) or one already created.
        let pick = |i: &prop::sample::Index, created: u32| i.index(created as usize + 1) as u32;
        match step {
            Step::Clone(t) => {
                *created += 1;
                ops.push(HtipOp::Clone { template: *t });
            }
            Step::SetText(n, text) => ops.push(HtipOp::SetText {
                node: pick(n, *created),
                text: text.clone(),
            }),
            Step::SetAttr(n, key, value) => ops.push(HtipOp::SetAttr {
                node: pick(n, *created),
                key: key.clone(),
                value: value.clone(),
            }),
            Step::Toggle(n, class, enable) => ops.push(HtipOp::ToggleClass {
                node: pick(n, *created),
                class: class.clone(),
                enable: *enable,
            }),
            Step::Listen(n, event, handler) => ops.push(HtipOp::Listen {
                node: pick(n, *created),
                event: Event::from_index(*event).unwrap_or(Event::Click),
                handler: *handler,
            }),
            Step::Append(p, c) => ops.push(HtipOp::Append {
                parent: pick(p, *created),
                child: pick(c, *created),
            }),
            Step::Remove(n) => ops.push(HtipOp::Remove {
                node: pick(n, *created),
            }),
            Step::Recache(t) => ops.push(HtipOp::Cache { template: *t }),
            Step::Batch(inner) => {
                ops.push(HtipOp::BatchBegin);
                for s in inner {
                    push(s, created, ops);
                }
                ops.push(HtipOp::BatchCommit);
            }
        }
    }
    let mut ops = vec![
        HtipOp::Cache { template: 1 },
        HtipOp::Cache { template: HIGH },
    ];
    let mut created = 0;
    for s in steps {
        push(s, &mut created, &mut ops);
    }
    ops
}

fn encode(ops: &[HtipOp]) -> Result<Vec<u8>, CaseFailure> {
    stream::encode(&TEMPLATES, ops)
        .map_err(|e| CaseFailure::plain("a stream the suite can encode", e.to_string()))
}

/// The page operations a fresh client and host must show for a valid stream: host ids
/// are handed out 1, 2, … so handles and host ids agree.
fn expected(stream: &stream::Stream) -> Vec<DomOp> {
    DomOp::expected(stream.ops(), &stream.templates(), 0)
}

fn first_difference(got: &[DomOp], want: &[DomOp]) -> String {
    let at = got
        .iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    format!(
        "{} page operations where the stream encodes {}; the first difference, at {at}: got {:?}, the stream encodes {:?}",
        got.len(),
        want.len(),
        got.get(at),
        want.get(at)
    )
}

/// What a fresh client that rendered `s` holds (`spec/client-abi.md`, Exports): one node per
/// `CLONE`, one template per distinct id cached, and every handler a `LISTEN` attached (and
/// no other) answered by `on_event`.
fn state_after(client: &mut ClientInstance, s: &stream::Stream) -> Result<(), CaseFailure> {
    let ops = s.ops();
    let nodes = ops
        .iter()
        .filter(|op| matches!(op, HtipOp::Clone { .. }))
        .count();
    let mut templates: Vec<u16> = ops
        .iter()
        .filter_map(|op| match op {
            HtipOp::Cache { template } => Some(*template),
            _ => None,
        })
        .collect();
    templates.sort_unstable();
    templates.dedup();
    let got = returned(client.node_count(), "get_node_count")?;
    if usize::try_from(got).ok() != Some(nodes) {
        return Err(CaseFailure::plain(
            cc::NODE_COUNT.cite(),
            format!("get_node_count() returned {got} after a stream of {nodes} CLONE operations"),
        ));
    }
    let got = returned(client.template_count(), "get_template_count")?;
    if usize::try_from(got).ok() != Some(templates.len()) {
        return Err(CaseFailure::plain(
            cc::TEMPLATE_COUNT.cite(),
            format!(
                "get_template_count() returned {got} after a stream caching templates {templates:?} ({} CACHE operations)",
                ops.iter()
                    .filter(|op| matches!(op, HtipOp::Cache { .. }))
                    .count()
            ),
        ));
    }
    let mut handlers: Vec<u32> = ops
        .iter()
        .filter_map(|op| match op {
            HtipOp::Listen { handler, .. } => Some(*handler),
            _ => None,
        })
        .collect();
    handlers.sort_unstable();
    handlers.dedup();
    let stranger = handlers.last().map_or(0, |h| h.wrapping_add(1));
    let unknown = -i32::from(ErrorCode::UnknownHandler as u8);
    for (handler, want) in handlers
        .iter()
        .map(|h| (*h, 0))
        .chain([(stranger, unknown)])
    {
        let Ok(arg) = i32::try_from(handler) else {
            continue;
        };
        let got = returned(client.on_event(arg), "on_event")?;
        if got != want {
            return Err(CaseFailure::plain(
                cc::ON_EVENT.cite(),
                format!(
                    "on_event({handler}) returned {got}, not {want}, after a stream attaching handlers {handlers:?}"
                ),
            ));
        }
    }
    // `reset` forgets all of it.
    returned(client.reset(), "reset")?;
    let nodes = returned(client.node_count(), "get_node_count")?;
    let templates = returned(client.template_count(), "get_template_count")?;
    let handler = match handlers.first().map(|h| i32::try_from(*h)) {
        Some(Ok(h)) => Some((h, returned(client.on_event(h), "on_event")?)),
        _ => None,
    };
    if nodes != 0 || templates != 0 || handler.is_some_and(|(_, got)| got != unknown) {
        return Err(CaseFailure::plain(
            cc::RESET.cite(),
            format!(
                "after reset(): get_node_count() {nodes}, get_template_count() {templates}{}",
                handler
                    .map(|(h, got)| format!(", on_event({h}) {got}"))
                    .unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// Renders `bytes` on a fresh client and judges the outcome against the spec's rules; a
/// stream it accepts is rendered once more after `reset`, and must give the same page.
fn judge(client_area: &ClientArea, bytes: &[u8]) -> Result<(), CaseFailure> {
    let mut client = client_area.instance()?;
    let ptr = place(&mut client, bytes, "stream")?;
    let code = returned(client.render_stream(ptr, len(bytes)), "render_stream")?;
    if let Some(v) = client.host().violations.first() {
        return Err(CaseFailure::plain(cc::INPUT.cite(), v.clone()));
    }
    let known = code == 0 || (-27..=-1).contains(&code);
    if !known {
        return Err(CaseFailure::plain(
            cc::CODES.cite(),
            format!("render_stream returned {code}"),
        ));
    }
    let decoded = stream::decode(bytes);
    match (code, &decoded) {
        (0, Err(e)) => Err(CaseFailure::plain(
            cc::REFUSE_MALFORMED.cite(),
            format!(
                "render_stream returned 0 for a stream the rules refuse ({})",
                e.name()
            ),
        )),
        (0, Ok(s)) => {
            let want = expected(s);
            let got = &client.host().dom_ops;
            if *got != want {
                return Err(CaseFailure::plain(
                    cc::RENDERS_OPS.cite(),
                    first_difference(got, &want),
                ));
            }
            state_after(&mut client, s)?;
            // After `reset` the client is as fresh: the same stream renders the same page.
            client.host_mut().clear();
            let again = returned(client.render_stream(ptr, len(bytes)), "render_stream")?;
            let got = &client.host().dom_ops;
            if again != 0 || *got != want {
                // A structural code (a duplicate template, say) for a stream every rule
                // accepts breaks the stream's rules; any other difference, the reset.
                let structural = again < 0
                    && u8::try_from(again.unsigned_abs())
                        .ok()
                        .and_then(ErrorCode::from_code)
                        .is_some_and(ErrorCode::is_structural);
                let clause = if structural {
                    cc::REFUSE_MALFORMED
                } else {
                    cc::RESET
                };
                return Err(CaseFailure::plain(
                    clause.cite(),
                    format!(
                        "after reset(), the stream that rendered on a fresh client returned {again}; {}",
                        first_difference(got, &want)
                    ),
                ));
            }
            Ok(())
        }
        (refused, _) => {
            let structural =
                ErrorCode::from_code((-refused) as u8).is_some_and(ErrorCode::is_structural);
            if structural && decoded.is_ok() {
                return Err(CaseFailure::plain(
                    cc::REFUSE_MALFORMED.cite(),
                    format!("render_stream returned {refused} for a stream every rule accepts"),
                ));
            }
            let checked_first = (-refused) <= 18 || refused == -26;
            if checked_first && client.host().page_calls() > 0 {
                return Err(CaseFailure::plain(
                    cc::REFUSAL.cite(),
                    format!(
                        "render_stream returned {refused} after {} page operations, the first {:?}",
                        client.host().page_calls(),
                        client.host().dom_ops.first()
                    ),
                ));
            }
            Ok(())
        }
    }
}

/// Inputs: a valid page, random bytes, or a page with edits.
#[derive(Debug, Clone)]
enum Input {
    Valid(Vec<Step>),
    Random(Vec<u8>),
    Mutated(Vec<Step>, Vec<(prop::sample::Index, u8, u8)>),
}

fn input() -> impl Strategy<Value = Input> {
    let steps = || prop::collection::vec(step(), 0..24);
    prop_oneof![
        2 => steps().prop_map(Input::Valid),
        1 => prop::collection::vec(any::<u8>(), 0..256).prop_map(Input::Random),
        2 => (steps(), prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4))
            .prop_map(|(s, e)| Input::Mutated(s, e)),
    ]
}

fn bytes_of(input: &Input) -> Result<Vec<u8>, CaseFailure> {
    Ok(match input {
        Input::Valid(steps) => encode(&page(steps))?,
        Input::Random(bytes) => {
            // Half of them start like a stream, so they get past the magic.
            let mut b = bytes.clone();
            if b.first().is_some_and(|x| x % 2 == 0) {
                b.splice(0..0, *b"HTIP\x01\0\0\0");
            }
            b
        }
        Input::Mutated(steps, edits) => {
            let mut b = encode(&page(steps))?;
            for (at, byte, kind) in edits {
                if b.is_empty() {
                    break;
                }
                let i = at.index(b.len());
                match kind {
                    0 => b[i] = *byte,
                    1 => b.truncate(i),
                    _ => b.insert(i, *byte),
                }
            }
            b
        }
    })
}

/// A stream with sections given by hand.
fn raw(head: [u8; 4], strings: &[u8], templates: &[u8], ops: &[u8]) -> Vec<u8> {
    let mut out = b"HTIP".to_vec();
    out.extend(head);
    for section in [strings, templates, ops] {
        out.extend((section.len() as u32).to_le_bytes());
    }
    out.extend(strings);
    out.extend(templates);
    out.extend(ops);
    out
}

const V1: [u8; 4] = [1, 0, 0, 0];
const STR: &[u8] = &[1, 0, b'a'];
const TPL: &[u8] = &[7, 0, 3, 0, 0, 0, b'<', b'p', b'>'];

/// One stream with one fault, and the codes it may get: one, except where the fault is two
/// by the spec's words ("when a stream has several faults, which code is reported is the
/// decoder's choice").
fn single_faults() -> Vec<(&'static str, Vec<u8>, &'static [ErrorCode])> {
    let ok = |ops: &[u8]| raw(V1, STR, TPL, ops);
    let end = [opcode::END];
    let mut cut = ok(&end);
    cut.pop();
    let mut long = ok(&end);
    long.push(0);
    let mut faults: Vec<(&'static str, Vec<u8>, &'static [ErrorCode])> = vec![
        (
            "another magic",
            [b"HTIQ".as_slice(), &ok(&end)[4..]].concat(),
            &[ErrorCode::BadMagic],
        ),
        (
            "version 2",
            raw([2, 0, 0, 0], STR, TPL, &end),
            &[ErrorCode::UnsupportedVersion],
        ),
        (
            "a flag bit",
            raw([1, 1, 0, 0], STR, TPL, &end),
            &[ErrorCode::UnsupportedFlags],
        ),
        (
            "a reserved bit",
            raw([1, 0, 0, 1], STR, TPL, &end),
            &[ErrorCode::UnsupportedFlags],
        ),
        ("one byte short", cut, &[ErrorCode::Truncated]),
        ("one byte long", long, &[ErrorCode::TrailingBytes]),
        (
            "a string past its section",
            raw(V1, &[9, 0, b'a'], TPL, &end),
            &[ErrorCode::BadEntry],
        ),
        (
            "a template past its section",
            raw(V1, STR, &[7, 0, 9, 0, 0, 0, b'<'], &end),
            &[ErrorCode::BadEntry],
        ),
        (
            "a string that is not UTF-8",
            raw(V1, &[2, 0, 0xC3, 0x28], TPL, &end),
            &[ErrorCode::InvalidUtf8],
        ),
        (
            "a template that is not UTF-8",
            raw(V1, STR, &[7, 0, 1, 0, 0, 0, 0xFF], &end),
            &[ErrorCode::InvalidUtf8],
        ),
        (
            "a string index past the table",
            ok(&[opcode::SET_TEXT, 0, 0, 0, 0, 1, 0, opcode::END]),
            &[ErrorCode::BadStringIndex],
        ),
        (
            "a template defined twice",
            raw(V1, STR, &[TPL, TPL].concat(), &end),
            &[ErrorCode::DuplicateTemplate],
        ),
        (
            "a template cached but not defined",
            ok(&[opcode::CACHE, 8, 0, opcode::END]),
            &[ErrorCode::UndefinedTemplate],
        ),
        (
            "opcode 0x0B",
            ok(&[0x0B, opcode::END]),
            &[ErrorCode::UnknownOpcode],
        ),
        (
            "enable = 2",
            ok(&[opcode::TOGGLE_CLASS, 0, 0, 0, 0, 0, 0, 2, opcode::END]),
            &[ErrorCode::BadOperand],
        ),
        (
            "event = 6",
            ok(&[opcode::LISTEN, 0, 0, 0, 0, 6, 1, 0, 0, 0, opcode::END]),
            &[ErrorCode::BadOperand],
        ),
        (
            "a handle above 2^31 - 1",
            ok(&[opcode::REMOVE, 0, 0, 0, 0x80, opcode::END]),
            &[ErrorCode::BadOperand],
        ),
        (
            "a batch inside a batch",
            ok(&[
                opcode::BATCH_BEGIN,
                opcode::BATCH_BEGIN,
                opcode::BATCH_COMMIT,
                opcode::BATCH_COMMIT,
                opcode::END,
            ]),
            &[ErrorCode::BatchMismatch],
        ),
        (
            "a commit without a batch",
            ok(&[opcode::BATCH_COMMIT, opcode::END]),
            &[ErrorCode::BatchMismatch],
        ),
        (
            "the end inside a batch",
            ok(&[opcode::BATCH_BEGIN, opcode::END]),
            &[ErrorCode::BatchMismatch],
        ),
        (
            "bytes after the end marker",
            ok(&[opcode::END, opcode::END]),
            &[ErrorCode::TrailingBytes],
        ),
        (
            "operands cut by the section's end",
            ok(&[opcode::APPEND, 0, 0]),
            // The operands run past the section (4), and so the section does not end with
            // `END` (14).
            &[ErrorCode::Truncated, ErrorCode::MissingEnd],
        ),
        (
            "no end marker",
            ok(&[opcode::REMOVE, 0, 0, 0, 0]),
            &[ErrorCode::MissingEnd],
        ),
        (
            "a clone of a template never cached",
            ok(&[opcode::CLONE, 7, 0, opcode::END]),
            &[ErrorCode::UncachedTemplate],
        ),
        (
            "a node not created yet",
            ok(&[
                opcode::CACHE,
                7,
                0,
                opcode::CLONE,
                7,
                0,
                opcode::APPEND,
                0,
                0,
                0,
                0,
                2,
                0,
                0,
                0,
                opcode::END,
            ]),
            &[ErrorCode::UnknownNode],
        ),
    ];
    // Each way a byte sequence fails to be UTF-8, as a string of its own (the Unicode
    // Standard, table 3-7 and the definition of well-formed UTF-8).
    faults.extend(ILL_FORMED_UTF8.iter().map(|(what, bytes)| {
        let mut strings = u16::try_from(bytes.len())
            .unwrap_or(u16::MAX)
            .to_le_bytes()
            .to_vec();
        strings.extend(*bytes);
        (
            *what,
            raw(V1, &strings, TPL, &end),
            &[ErrorCode::InvalidUtf8][..],
        )
    }));
    faults
}

/// Ill-formed UTF-8, one way per row.
const ILL_FORMED_UTF8: [(&str, &[u8]); 12] = [
    ("a string with a lone continuation byte", &[b'a', 0x80]),
    ("a string with lead byte C0 (overlong)", &[0xC0, 0x80]),
    ("a string with lead byte C1 (overlong)", &[0xC1, 0xBF]),
    ("a string with an overlong 3-byte form", &[0xE0, 0x9F, 0xBF]),
    (
        "a string with an overlong 4-byte form",
        &[0xF0, 0x8F, 0xBF, 0xBF],
    ),
    ("a string with the first surrogate", &[0xED, 0xA0, 0x80]),
    ("a string with the last surrogate", &[0xED, 0xBF, 0xBF]),
    ("a string past U+10FFFF", &[0xF4, 0x90, 0x80, 0x80]),
    ("a string with lead byte F5", &[0xF5, 0x80, 0x80, 0x80]),
    ("a string with lead byte FF", &[0xFF]),
    ("a string cut inside a scalar", &[b'a', 0xE2, 0x82]),
    ("a string with a scalar cut by ASCII", &[0xE2, 0x28, 0xA1]),
];

fn single_fault(
    client_area: &ClientArea,
    name: &str,
    bytes: &[u8],
    codes: &[ErrorCode],
) -> Result<(), CaseFailure> {
    let mut client = client_area.instance()?;
    let ptr = place(&mut client, bytes, "stream")?;
    let got = returned(client.render_stream(ptr, len(bytes)), "render_stream")?;
    if !codes.iter().any(|code| got == -i32::from(code.code())) {
        let wanted: Vec<String> = codes
            .iter()
            .map(|code| format!("{} ({})", -i32::from(code.code()), code.name()))
            .collect();
        return Err(CaseFailure::plain(
            cc::CODES.cite(),
            format!(
                "{name}: render_stream returned {got}, not {}",
                wanted.join(" or ")
            ),
        ));
    }
    if client.host().page_calls() > 0 {
        return Err(CaseFailure::plain(
            cc::REFUSAL.cite(),
            format!(
                "{name}: {} page operations for a refused stream",
                client.host().page_calls()
            ),
        ));
    }
    Ok(())
}

fn bad_regions(client_area: &ClientArea) -> Result<(), CaseFailure> {
    let mut client: ClientInstance = client_area.instance()?;
    let memory = i32::try_from(client.memory_len()).unwrap_or(i32::MAX);
    for (ptr, length) in [
        (-1, 4),
        (memory, 1),
        (memory - 2, 4),
        (8, -1),
        (i32::MAX, i32::MAX),
        (i32::MIN, 16),
    ] {
        let got = returned(
            client.render_stream(ptr, length),
            &format!("render_stream({ptr}, {length})"),
        )?;
        let want = -i32::from(ErrorCode::BadRegion.code());
        if got != want {
            return Err(CaseFailure::plain(
                cc::BAD_REGION.cite(),
                format!(
                    "render_stream({ptr}, {length}) with a memory of {memory} bytes returned {got}"
                ),
            ));
        }
    }
    // The memory's last bytes lie inside it: whatever they hold, not `BAD_REGION`.
    let got = returned(
        client.render_stream(memory - 4, 4),
        &format!("render_stream({}, 4)", memory - 4),
    )?;
    if got == -i32::from(ErrorCode::BadRegion.code()) {
        return Err(CaseFailure::plain(
            cc::BAD_REGION_CODE.cite(),
            format!(
                "render_stream({}, 4), the last bytes of a memory of {memory} bytes, returned {got}",
                memory - 4
            ),
        ));
    }
    if client.host().page_calls() > 0 {
        return Err(CaseFailure::plain(
            cc::REFUSAL.cite(),
            "page operations for a range outside the memory",
        ));
    }
    Ok(())
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let client = match area(target).await {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let generated = for_all(input(), config, |input| {
            let result = bytes_of(&input).and_then(|b| judge(&client, &b));
            async move { result }
        })
        .await;
        let faults = single_faults();
        let enumerated = for_each(&faults, |(name, bytes, codes)| {
            let result = single_fault(&client, name, bytes, codes);
            async move { result }
        })
        .await;
        let regions = for_each(&[()], |()| {
            let result = bad_regions(&client);
            async move { result }
        })
        .await;
        // Many distinct handlers on one node: however the client stores them (a hash set
        // whose probes collide, a list), each must be found again, and no other.
        let many = for_each(&[MANY_HANDLERS], |count| {
            let ops: Vec<HtipOp> = [
                HtipOp::Cache { template: 1 },
                HtipOp::Cache { template: HIGH },
                HtipOp::Clone { template: 1 },
            ]
            .into_iter()
            .chain((0..*count).map(|h| HtipOp::Listen {
                node: 1,
                event: Event::Click,
                // Scattered ids (an odd multiplier is a bijection on u32; the shift keeps
                // them within i32), so a hash table meets collisions.
                handler: h.wrapping_mul(2_246_822_519) >> 1,
            }))
            .collect();
            let result = encode(&ops).and_then(|b| judge(&client, &b));
            async move { result }
        })
        .await;
        CheckOutcome::Ran(
            generated
                .followed_by(enumerated)
                .followed_by(regions)
                .followed_by(many),
        )
    })
}
