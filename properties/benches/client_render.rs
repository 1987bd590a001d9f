//! HTIP rendering in the WASM client against the same code natively, in the same run: the
//! reference client `.wasm` (as dx-reference serves it) renders a stream in wasmi through the
//! suite's MockHost, and `dx_client::Client` renders the same stream natively into a host
//! that records the same operations. The ratio is what running the client in the suite's
//! interpreter costs; the native figure is the decoder's own speed.
//!
//! The stream is the demo page's current version (40 list items) and a
//! generated page of 2,000 items; each is rendered on a fresh client, interleaved rounds,
//! medians reported. No timing assertions.
//!
//! Run: `cargo bench -p dx-conformance --bench client_render`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use dx_bench_record::Figure;
use dx_client::{Client, Host};
use dx_conformance::client::ClientModule;
use dx_htip::{Event, HtipOp, Text};

/// Records what the native client asks, as the MockHost does.
#[derive(Default)]
struct Recording {
    ops: Vec<(u8, i32, String)>,
    next: i32,
}

impl Host for Recording {
    fn clone_template(&mut self, t: u16) -> i32 {
        self.next += 1;
        self.ops.push((1, i32::from(t), String::new()));
        self.next
    }
    fn cache_template(&mut self, t: u16, html: Text<'_>) {
        self.ops.push((2, i32::from(t), html.as_str().to_owned()));
    }
    fn append(&mut self, p: i32, c: i32) {
        self.ops.push((3, p, c.to_string()));
    }
    fn remove(&mut self, n: i32) {
        self.ops.push((4, n, String::new()));
    }
    fn set_text(&mut self, n: i32, t: Text<'_>) {
        self.ops.push((5, n, t.as_str().to_owned()));
    }
    fn set_attr(&mut self, n: i32, k: Text<'_>, v: Text<'_>) {
        self.ops.push((6, n, format!("{k}={v}")));
    }
    fn toggle_class(&mut self, n: i32, c: Text<'_>, e: bool) {
        self.ops.push((7, n, format!("{c}{e}")));
    }
    fn listen(&mut self, n: i32, e: Event, h: u32) {
        self.ops.push((8, n, format!("{}{h}", e.index())));
    }
}

fn big_page(items: u32) -> Vec<u8> {
    let mut ops = vec![
        HtipOp::Cache { template: 1 },
        HtipOp::Cache { template: 2 },
        HtipOp::Clone { template: 1 },
    ];
    for i in 0..items {
        let node = 2 + i;
        ops.extend([
            HtipOp::Clone { template: 2 },
            HtipOp::SetText {
                node,
                text: format!("row {i}: some text that a list row carries"),
            },
            HtipOp::SetAttr {
                node,
                key: "data-row".into(),
                value: i.to_string(),
            },
            HtipOp::ToggleClass {
                node,
                class: "odd".into(),
                enable: i % 2 == 1,
            },
            HtipOp::Append {
                parent: 1,
                child: node,
            },
        ]);
    }
    dx_htip::stream::encode(&[(1, "<table></table>"), (2, "<tr><td></td></tr>")], &ops).unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("client_render: run with `cargo bench -p dx-conformance --bench client_render`");
        return;
    }
    let Some(wasm) = dx_server::routes::client::client_wasm() else {
        println!(
            "client_render: dx-server was built without its client (rustup target add wasm32-unknown-unknown)"
        );
        return;
    };
    let module = ClientModule::load(wasm).unwrap();
    let demo = dx_server::demo::versions().unwrap().pop().unwrap();
    let streams = [
        ("demo page (40 items)", demo),
        ("generated page (2,000 rows)", big_page(2_000)),
    ];
    println!(
        "client .wasm: {} bytes, run in wasmi with fuel metering",
        module.size()
    );
    for (name, stream) in &streams {
        let rounds = 15;
        let (mut wasm_times, mut native_times) = (Vec::new(), Vec::new());
        let mut ops = (0, 0);
        for _ in 0..rounds {
            let mut instance = module.instantiate().unwrap();
            let ptr = instance.place(stream, 1).unwrap();
            let started = Instant::now();
            let code = instance.render_stream(ptr, stream.len() as i32);
            wasm_times.push(started.elapsed());
            assert_eq!(code.returned(), Some(0));
            ops.0 = instance.host().dom_ops.len();

            let mut client = Box::new(Client::new());
            let mut host = Recording::default();
            let started = Instant::now();
            client.render(&mut host, stream).unwrap();
            native_times.push(started.elapsed());
            ops.1 = host.ops.len();
        }
        assert_eq!(ops.0, ops.1, "both render the same operations");
        let (w, n) = (median(wasm_times), median(native_times));
        let mb = stream.len() as f64 / 1e6;
        println!(
            "{name}: {} bytes, {} host calls; wasmi {:.3} ms ({:.1} MB/s), native {:.3} ms ({:.1} MB/s): the client in wasmi takes {:.1}x native [median of {rounds}]",
            stream.len(),
            ops.0,
            w.as_secs_f64() * 1e3,
            mb / w.as_secs_f64(),
            n.as_secs_f64() * 1e3,
            mb / n.as_secs_f64(),
            w.as_secs_f64() / n.as_secs_f64()
        );
        Figure::lower_is_better(format!("render {name}"), "ms")
            .ours("reference client in wasmi (fuel)", w.as_secs_f64() * 1e3)
            .peer("dx_client::Client natively", n.as_secs_f64() * 1e3)
            .note(format!("median of {rounds}; fresh client each round"))
            .record()
            .expect("the results file is writable");
    }
}
