//! The stream processor natively, against a host that records every call: a stream renders
//! to exactly the operations it encodes, with handles mapped to the host's ids; a refused
//! stream makes no call at all; the client's state and limits are enforced.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dx_client::client::{MAX_HANDLERS, MAX_NODES};
use dx_client::{Client, Host};
use dx_htip::stream::{self, opcode};
use dx_htip::{ErrorCode, Event, HtipOp, Text};
use proptest::prelude::*;

/// One host call, with the host's node ids.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Clone(u16),
    Cache(u16, String),
    Append(i32, i32),
    Remove(i32),
    SetText(i32, String),
    SetAttr(i32, String, String),
    ToggleClass(i32, String, bool),
    Listen(i32, Event, u32),
}

/// Hands out node ids 100, 101, … (so handles and host ids differ), or fails clones after
/// `fail_after` of them.
#[derive(Default)]
struct Recorder {
    calls: Vec<Call>,
    next_id: i32,
    fail_after: Option<usize>,
}

impl Host for Recorder {
    fn clone_template(&mut self, template: u16) -> i32 {
        self.calls.push(Call::Clone(template));
        let clones = self
            .calls
            .iter()
            .filter(|c| matches!(c, Call::Clone(_)))
            .count();
        if self.fail_after.is_some_and(|n| clones > n) {
            // Alternately negative and 0: both mean the host could not.
            return if clones % 2 == 0 { -1 } else { 0 };
        }
        self.next_id += 1;
        99 + self.next_id
    }
    fn cache_template(&mut self, template: u16, html: Text<'_>) {
        self.calls.push(Call::Cache(template, html.as_str().into()));
    }
    fn append(&mut self, parent: i32, child: i32) {
        self.calls.push(Call::Append(parent, child));
    }
    fn remove(&mut self, node: i32) {
        self.calls.push(Call::Remove(node));
    }
    fn set_text(&mut self, node: i32, text: Text<'_>) {
        self.calls.push(Call::SetText(node, text.as_str().into()));
    }
    fn set_attr(&mut self, node: i32, key: Text<'_>, value: Text<'_>) {
        self.calls.push(Call::SetAttr(
            node,
            key.as_str().into(),
            value.as_str().into(),
        ));
    }
    fn toggle_class(&mut self, node: i32, class: Text<'_>, enable: bool) {
        self.calls
            .push(Call::ToggleClass(node, class.as_str().into(), enable));
    }
    fn listen(&mut self, node: i32, event: Event, handler: u32) {
        self.calls.push(Call::Listen(node, event, handler));
    }
}

fn page() -> Vec<u8> {
    stream::encode(
        &[(1, "<li></li>")],
        &[
            HtipOp::Cache { template: 1 },
            HtipOp::BatchBegin,
            HtipOp::Clone { template: 1 },
            HtipOp::Clone { template: 1 },
            HtipOp::SetText {
                node: 2,
                text: "second".into(),
            },
            HtipOp::SetAttr {
                node: 1,
                key: "id".into(),
                value: "first".into(),
            },
            HtipOp::ToggleClass {
                node: 1,
                class: "on".into(),
                enable: true,
            },
            HtipOp::Listen {
                node: 2,
                event: Event::KeyUp,
                handler: 7,
            },
            HtipOp::Append {
                parent: 0,
                child: 1,
            },
            HtipOp::Append {
                parent: 1,
                child: 2,
            },
            HtipOp::Remove { node: 2 },
            HtipOp::BatchCommit,
        ],
    )
    .unwrap()
}

#[test]
fn a_stream_renders_to_exactly_its_operations() {
    let mut client = Client::new();
    let mut host = Recorder::default();
    client.render(&mut host, &page()).unwrap();
    assert_eq!(
        host.calls,
        [
            Call::Cache(1, "<li></li>".into()),
            Call::Clone(1),
            Call::Clone(1),
            Call::SetText(101, "second".into()),
            Call::SetAttr(100, "id".into(), "first".into()),
            Call::ToggleClass(100, "on".into(), true),
            Call::Listen(101, Event::KeyUp, 7),
            Call::Append(0, 100),
            Call::Append(100, 101),
            Call::Remove(101),
        ]
    );
    assert_eq!(
        (
            client.node_count(),
            client.template_count(),
            client.handler_count()
        ),
        (2, 1, 1)
    );
    assert_eq!(client.on_event(7), Ok(()));
    assert_eq!(client.on_event(8), Err(ErrorCode::UnknownHandler));
    // A later stream clones the cached template without resending it, and names earlier nodes.
    let later = stream::encode(
        &[],
        &[
            HtipOp::Clone { template: 1 },
            HtipOp::Append {
                parent: 1,
                child: 3,
            },
        ],
    )
    .unwrap();
    client.render(&mut host, &later).unwrap();
    assert_eq!(host.calls[10..], [Call::Clone(1), Call::Append(100, 102)]);
    client.reset();
    assert_eq!(
        (
            client.node_count(),
            client.template_count(),
            client.handler_count()
        ),
        (0, 0, 0)
    );
    assert_eq!(client.on_event(7), Err(ErrorCode::UnknownHandler));
    let calls = host.calls.len();
    assert_eq!(
        client.render(&mut host, &later),
        Err(ErrorCode::UncachedTemplate)
    );
    assert_eq!(host.calls.len(), calls, "refused: no call");
}

#[test]
fn state_errors_are_found_before_any_call() {
    let cases: [(&[HtipOp], ErrorCode); 4] = [
        (
            &[HtipOp::SetText {
                node: 1,
                text: "x".into(),
            }],
            ErrorCode::UnknownNode,
        ),
        (
            &[HtipOp::Clone { template: 9 }],
            ErrorCode::UncachedTemplate,
        ),
        (
            &[
                HtipOp::Cache { template: 1 },
                HtipOp::Clone { template: 1 },
                HtipOp::Append {
                    parent: 2,
                    child: 1,
                },
            ],
            ErrorCode::UnknownNode,
        ),
        (
            &[
                HtipOp::Cache { template: 1 },
                HtipOp::Listen {
                    node: 1,
                    event: Event::Click,
                    handler: 1,
                },
                HtipOp::Clone { template: 1 },
            ],
            ErrorCode::UnknownNode,
        ),
    ];
    for (ops, code) in cases {
        let bytes = stream::encode(&[(1, "<p>")], ops).unwrap();
        let mut client = Client::new();
        let mut host = Recorder::default();
        assert_eq!(client.render(&mut host, &bytes), Err(code), "{ops:?}");
        assert!(host.calls.is_empty(), "{ops:?}: {:?}", host.calls);
        assert_eq!((client.node_count(), client.template_count()), (0, 0));
    }
}

#[test]
fn a_host_failure_stops_at_its_operation() {
    let mut client = Client::new();
    let mut host = Recorder {
        fail_after: Some(1),
        ..Recorder::default()
    };
    assert_eq!(
        client.render(&mut host, &page()),
        Err(ErrorCode::HostFailed)
    );
    assert_eq!(
        host.calls.len(),
        3,
        "cache, the clone that worked, the one that failed"
    );
    assert_eq!(client.node_count(), 1);
    // A host answering 0 (the root's id) for a new node has failed as well.
    let mut client = Client::new();
    let mut host = Recorder {
        fail_after: Some(0),
        ..Recorder::default()
    };
    assert_eq!(
        client.render(&mut host, &page()),
        Err(ErrorCode::HostFailed)
    );
    assert_eq!(client.node_count(), 0);
}

#[test]
fn the_tables_have_limits() {
    let mut ops = vec![HtipOp::Cache { template: 1 }];
    ops.extend((0..MAX_NODES).map(|_| HtipOp::Clone { template: 1 }));
    let full = stream::encode(&[(1, "<b>")], &ops).unwrap();
    let mut client = Client::new();
    let mut host = Recorder::default();
    client.render(&mut host, &full).unwrap();
    assert_eq!(client.node_count(), MAX_NODES);
    let one_more = stream::encode(&[], &[HtipOp::Clone { template: 1 }]).unwrap();
    let calls = host.calls.len();
    assert_eq!(
        client.render(&mut host, &one_more),
        Err(ErrorCode::LimitExceeded)
    );
    assert_eq!(host.calls.len(), calls);

    let listens: Vec<HtipOp> = (0..=MAX_HANDLERS as u32)
        .map(|h| HtipOp::Listen {
            node: 0,
            event: Event::Click,
            handler: h,
        })
        .collect();
    let mut client = Client::new();
    let too_many = stream::encode(&[], &listens).unwrap();
    let mut host = Recorder::default();
    assert_eq!(
        client.render(&mut host, &too_many),
        Err(ErrorCode::LimitExceeded)
    );
    assert!(host.calls.is_empty(), "refused before the first call");
    let just_enough = stream::encode(&[], &listens[..MAX_HANDLERS]).unwrap();
    client
        .render(&mut Recorder::default(), &just_enough)
        .unwrap();
    assert_eq!(client.handler_count(), MAX_HANDLERS);
    // At the limit, listening again with handlers already attached adds none: accepted.
    let again = stream::encode(&[], &listens[..3]).unwrap();
    client.render(&mut Recorder::default(), &again).unwrap();
    assert_eq!(client.handler_count(), MAX_HANDLERS);
    assert_eq!(client.on_event(MAX_HANDLERS as u32 - 1), Ok(()));
    assert_eq!(
        client.on_event(MAX_HANDLERS as u32),
        Err(ErrorCode::UnknownHandler)
    );
    // Handlers are found whatever order they came in.
    let mut client = Client::new();
    let shuffled: Vec<HtipOp> = [5u32, 1, 9, 3, 1]
        .iter()
        .map(|&h| HtipOp::Listen {
            node: 0,
            event: Event::Input,
            handler: h,
        })
        .collect();
    client
        .render(
            &mut Recorder::default(),
            &stream::encode(&[], &shuffled).unwrap(),
        )
        .unwrap();
    assert_eq!(client.handler_count(), 4);
    for h in [1, 3, 5, 9] {
        assert_eq!(client.on_event(h), Ok(()), "{h}");
    }
    for h in [0, 2, 4, 10] {
        assert_eq!(client.on_event(h), Err(ErrorCode::UnknownHandler), "{h}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Feature: production-readiness, Property 11: Malformed Stream Resilience
    ///
    /// Any bytes, and a valid page with bytes flipped, cut or inserted: the client returns
    /// success or a code; when it refuses with a code it checks before rendering (1-18),
    /// the host saw no call.
    #[test]
    fn any_bytes_end_in_a_code_and_refusals_make_no_call(
        random in prop::collection::vec(any::<u8>(), 0..200),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 0..5),
        header in any::<bool>(),
    ) {
        let mut bytes = if header { page() } else { random };
        for (at, byte, kind) in edits {
            if bytes.is_empty() { break; }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes.truncate(i),
                _ => bytes.insert(i, byte),
            }
        }
        let mut client = Client::new();
        let mut host = Recorder::default();
        match client.render(&mut host, &bytes) {
            Ok(()) => prop_assert!(stream::decode(&bytes).is_ok()),
            Err(code) => {
                prop_assert!(code.code() <= 18, "{code:?}");
                prop_assert!(host.calls.is_empty(), "{code:?} after {:?}", host.calls);
            }
        }
    }
}

#[test]
fn the_end_marker_alone_renders_nothing() {
    let bytes = [
        b"HTIP".as_slice(),
        &[1, 0, 0, 0],
        &[0; 8],
        &1u32.to_le_bytes(),
        &[opcode::END],
    ]
    .concat();
    let mut host = Recorder::default();
    Client::new().render(&mut host, &bytes).unwrap();
    assert!(host.calls.is_empty());
}

#[test]
fn every_template_id_can_be_cached_and_each_is_counted_once() {
    let mut client = Client::new();
    let ids = [0u16, 5, 7, 63, 64, 65_471, 65_472, u16::MAX];
    let templates: Vec<(u16, String)> =
        ids.iter().map(|id| (*id, format!("<p>{id}</p>"))).collect();
    let defs: Vec<(u16, &str)> = templates
        .iter()
        .map(|(id, html)| (*id, html.as_str()))
        .collect();
    let mut ops: Vec<HtipOp> = ids
        .iter()
        .map(|id| HtipOp::Cache { template: *id })
        .collect();
    ops.extend(ids.iter().map(|id| HtipOp::Clone { template: *id }));
    let mut host = Recorder::default();
    client
        .render(&mut host, &stream::encode(&defs, &ops).unwrap())
        .unwrap();
    assert_eq!(client.template_count(), ids.len() as u32);
    assert_eq!(client.node_count(), ids.len());
    // Cached again, twice in a later stream: still counted once.
    let twice = stream::encode(
        &[(7, "<b></b>")],
        &[HtipOp::Cache { template: 7 }, HtipOp::Cache { template: 7 }],
    )
    .unwrap();
    client.render(&mut host, &twice).unwrap();
    assert_eq!(client.template_count(), ids.len() as u32);
    // A template never cached is still refused, next to ones that are.
    for uncached in [1u16, 6, 62, 65, 65_470] {
        let clone = stream::encode(&[], &[HtipOp::Clone { template: uncached }]).unwrap();
        assert_eq!(
            client.render(&mut host, &clone),
            Err(ErrorCode::UncachedTemplate),
            "template {uncached}"
        );
    }
    let text = format!("{client:?}");
    assert!(
        text.contains("nodes: 8") && text.contains("templates: 8") && text.contains("handlers: 0"),
        "{text}"
    );
}
