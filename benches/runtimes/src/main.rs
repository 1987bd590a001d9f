//! The client `.wasm` under the two WebAssembly runtimes a host could run it in: wasmi 2 (an
//! interpreter: what the conformance suite uses today, with fuel metering) and wasmtime 48
//! (a Cranelift JIT), each with fuel metering on and off, in the same run, with the same host
//! imports; the client's code run natively (`dx-htip`) is the reference point.
//!
//! Measured per runtime: compiling the module, instantiating it, the first render on a fresh
//! instance (wasmi translates a function on its first call), rendering a 2,000-row page warm,
//! and applying a patch between two ~1 MB versions in the client's memory. Every figure is
//! the median of [`SAMPLES`] samples; every run's result is checked, so a broken runtime or
//! client fails loudly instead of printing a fast number. No timing assertions.
//!
//! Run: `cargo run --release --manifest-path benches/runtimes/Cargo.toml [-- CLIENT.wasm]`.
//! With `DX_BENCH_RESULTS` set (the benchmark report), each figure of wasmi beside its peer
//! is also appended there as a JSON line (`dx-bench-record`); see `record`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dx_bench_record::Figure;
use dx_htip::{HtipOp, Op, delta, stream};

/// Samples per figure; the median is reported.
const SAMPLES: usize = 7;
/// Renders per sample of the warm render (one takes ~0.4 ms natively, ~13 ms in wasmi).
const RENDERS_PER_SAMPLE: usize = 20;
/// Patch applications per sample.
const PATCHES_PER_SAMPLE: usize = 5;
/// Rows of the generated page: 12,003 operations, 2,001 nodes (the client tracks 16,384).
const ROWS: u32 = 2_000;
/// Size of the patch's base version.
const PATCH_BASE_LEN: usize = 1 << 20;
/// Fuel per export call, as the suite gives it (`properties/src/client/runtime.rs`).
const FUEL_PER_CALL: u64 = 500_000_000;
/// The most memory a client may have, as in the suite.
const MEMORY_CAP: usize = 64 << 20;

fn main() {
    let path = std::env::args_os().nth(1).map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/wasm32-unknown-unknown/wasm/dx_client.opt.wasm")
        },
        PathBuf::from,
    );
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    let wasm = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the client module {} ({e}); build it with reference/client/release.sh",
            path.display()
        )
    });
    let inputs = Inputs::new();
    println!(
        "client module: {} ({} bytes)",
        path.display(),
        thousands(wasm.len() as f64)
    );
    println!(
        "render: a page of {} rows: {}-byte stream, {} operations, {} nodes, {} host calls",
        thousands(f64::from(ROWS)),
        thousands(inputs.stream.len() as f64),
        thousands(inputs.ops as f64),
        thousands(f64::from(inputs.clones)),
        thousands(inputs.host.calls.iter().sum::<u32>().into()),
    );
    println!(
        "apply_patch: {}-byte base to {}-byte target, {}-byte patch",
        thousands(inputs.base.len() as f64),
        thousands(inputs.target.len() as f64),
        thousands(inputs.patch.len() as f64),
    );
    println!(
        "median of {SAMPLES} samples; fuel: {FUEL_PER_CALL} units set before every export call, as the suite does\n"
    );

    let (wasmi, wasmtime) = (wasmi_rt::Runtime::new, wasmtime_rt::Runtime::new);
    let rows = [
        measure("wasmi 2, fuel (suite)", &wasmi(true), &wasm, &inputs),
        measure("wasmi 2, no fuel", &wasmi(false), &wasm, &inputs),
        measure("wasmtime 48, fuel", &wasmtime(true), &wasm, &inputs),
        measure("wasmtime 48, no fuel", &wasmtime(false), &wasm, &inputs),
        measure_native(&inputs),
    ];
    print_table(&rows, &inputs);
    record(&rows, &inputs);
}

/// The figures for the benchmark report: wasmi (ours: the suite's runtime) beside wasmtime
/// with the same fuel setting, then wasmi as the suite runs it beside the client's code run
/// natively (render and patch only: nothing is compiled natively). No goal: the choice of
/// wasmi rests on compile and first render, where the suite spends its time, and this run
/// shows whether that still holds.
fn record(rows: &[Row], inputs: &Inputs) {
    let [wasmi_fuel, wasmi, wasmtime_fuel, wasmtime, native] = rows else {
        panic!("five rows: wasmi and wasmtime with and without fuel, and native");
    };
    let pairs = [
        ("fuel on, as the suite runs it", wasmi_fuel, wasmtime_fuel),
        ("fuel off", wasmi, wasmtime),
        ("against native", wasmi_fuel, native),
    ];
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    let per_s = |d: Duration| 1.0 / d.as_secs_f64();
    let target_mb = inputs.target.len() as f64 / 1e6;
    for (group, ours, peer) in pairs {
        let times: [(&str, Option<f64>, Option<f64>); 4] = [
            ("compile", ms(ours.compile), ms(peer.compile)),
            ("instantiate", ms(ours.instantiate), ms(peer.instantiate)),
            (
                "first render of a fresh instance",
                ms(ours.first_render),
                ms(peer.first_render),
            ),
            (
                "cold start (compile, instantiate, first render)",
                ms(ours.cold),
                ms(peer.cold),
            ),
        ];
        for (figure, a, b) in times {
            if let (Some(a), Some(b)) = (a, b) {
                Figure::lower_is_better(figure, "ms")
                    .group(group)
                    .ours(ours.name, a)
                    .peer(peer.name, b)
                    .note(format!("median of {SAMPLES}"))
                    .record()
                    .expect("the results file (DX_BENCH_RESULTS) is writable");
            }
        }
        Figure::higher_is_better("warm renders of the 2,000-row page", "renders/s")
            .group(group)
            .ours(ours.name, per_s(ours.render))
            .peer(peer.name, per_s(peer.render))
            .note(format!(
                "{} operations a render; median of {SAMPLES} samples of {RENDERS_PER_SAMPLE}",
                thousands(inputs.ops as f64)
            ))
            .record()
            .expect("the results file (DX_BENCH_RESULTS) is writable");
        Figure::higher_is_better("apply_patch on a 1 MiB pair", "MB/s")
            .group(group)
            .ours(ours.name, target_mb / ours.patch.as_secs_f64())
            .peer(peer.name, target_mb / peer.patch.as_secs_f64())
            .note(format!(
                "target bytes written per second; median of {SAMPLES} samples of {PATCHES_PER_SAMPLE}"
            ))
            .record()
            .expect("the results file (DX_BENCH_RESULTS) is writable");
    }
}

/// What every runtime is given, and what a correct run produces.
struct Inputs {
    stream: Vec<u8>,
    /// Operations in the stream.
    ops: usize,
    /// Nodes the stream creates: `get_node_count` after rendering it.
    clones: i32,
    /// The host after one render, from the native decoder: every runtime's host must match.
    host: Host,
    base: Vec<u8>,
    target: Vec<u8>,
    patch: Vec<u8>,
}

impl Inputs {
    fn new() -> Self {
        let page = big_page(ROWS);
        let (ops, clones) = {
            let decoded = stream::decode(&page).expect("the page decodes");
            (decoded.ops().count(), decoded.clone_count())
        };
        let mut host = Host::default();
        native_render(&page, &mut host);
        let (base, target) = versions(PATCH_BASE_LEN);
        let patch = delta::diff(&base, &target).unwrap();
        Self {
            stream: page,
            ops,
            clones: i32::try_from(clones).unwrap(),
            host,
            base,
            target,
            patch,
        }
    }
}

/// A list page, as `properties/benches/client_render.rs` builds it, with a listener per
/// row: a table, then per row a cloned row with its text, an attribute, a class and a
/// click handler, appended to the table.
fn big_page(rows: u32) -> Vec<u8> {
    let mut ops = vec![
        HtipOp::Cache { template: 1 },
        HtipOp::Cache { template: 2 },
        HtipOp::Clone { template: 1 },
    ];
    for i in 0..rows {
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
            HtipOp::Listen {
                node,
                event: dx_htip::Event::Click,
                handler: i + 1,
            },
            HtipOp::Append {
                parent: 1,
                child: node,
            },
        ]);
    }
    stream::encode(&[(1, "<table></table>"), (2, "<tr><td></td></tr>")], &ops).unwrap()
}

/// Two versions of a text of `len` bytes: the second has passages inserted, ranges deleted
/// and a 64 KiB block moved, so the patch has copies (near and far), and inserts.
fn versions(len: usize) -> (Vec<u8>, Vec<u8>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let base = rng.text(len);
    let mut target = base.clone();
    let block: Vec<u8> = target.drain(100_000..165_536).collect();
    let at = target.len() - 200_000;
    target.splice(at..at, block);
    for (at, len) in [(700_000, 12_000), (520_000, 777), (300_000, 5_000)] {
        target.drain(at..at + len);
    }
    for at in [900_000, 650_000, 400_000, 10_000] {
        let passage = rng.text(2_000);
        target.splice(at..at, passage);
    }
    (base, target)
}

/// xorshift64*: reproducible text without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `len` bytes of words and punctuation, like a page's text.
    fn text(&mut self, len: usize) -> Vec<u8> {
        const WORDS: &str = "the client renders a stream of templates and patches for a page";
        const SEPARATORS: [&str; 4] = [" ", " ", ", ", ".\n"];
        let words: Vec<&str> = WORDS.split(' ').collect();
        let mut out = Vec::with_capacity(len + 16);
        while out.len() < len {
            let r = self.next();
            out.extend_from_slice(words[r as usize % words.len()].as_bytes());
            out.extend_from_slice(SEPARATORS[(r >> 32) as usize % SEPARATORS.len()].as_bytes());
        }
        out.truncate(len);
        out
    }
}

/// The imports of `spec/client-abi.md`, as indices into [`Host::calls`].
#[derive(Debug, Clone, Copy)]
enum Import {
    CloneTemplate,
    CacheTemplate,
    Append,
    Remove,
    SetText,
    SetAttr,
    ToggleClass,
    Listen,
    Log,
}

/// The host's side of the imports, the same for every runtime and for the native reference:
/// it counts the calls to each import, hands out node ids, and reads every string the client
/// passes (adding up its bytes, as a DOM host reads them to build its strings). Two equal
/// hosts saw the same calls with the same text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Host {
    calls: [u32; 9],
    last_node: i32,
    text_bytes: u64,
    text_sum: u64,
}

impl Host {
    fn call(&mut self, import: Import) {
        self.calls[import as usize] += 1;
    }

    fn clone_template(&mut self) -> i32 {
        self.call(Import::CloneTemplate);
        self.last_node += 1;
        self.last_node
    }

    fn read(&mut self, text: &[u8]) {
        self.text_bytes += text.len() as u64;
        self.text_sum += text.iter().map(|&b| u64::from(b)).sum::<u64>();
    }
}

/// The `len` bytes at `ptr` of a client's memory; a range outside it is a broken client.
fn text(memory: &[u8], ptr: i32, len: i32) -> &[u8] {
    let start = usize::try_from(ptr).expect("a non-negative pointer");
    let len = usize::try_from(len).expect("a non-negative length");
    &memory[start..start + len]
}

/// A store's data: the host, the client's memory (set once instantiated, so that an import
/// reads it without looking the export up by name), and the memory cap.
struct State<M, L> {
    host: Host,
    memory: Option<M>,
    limits: L,
}

/// One way to run the client module.
trait WasmRuntime {
    type Module;
    type Client: WasmClient;
    /// `Module::new`: validation, and compilation where the runtime compiles ahead (wasmi's
    /// default, kept here as the suite keeps it, translates each function on its first call).
    fn compile(&self, wasm: &[u8]) -> Self::Module;
    /// A store, an instance with the host's imports, and `init()`: a client ready to render.
    fn instantiate(&self, module: &Self::Module) -> Self::Client;
}

/// The client's exports as the benchmark drives them; each call panics if the runtime
/// fails it (a trap, fuel running out).
trait WasmClient {
    /// `alloc(size, 1)`: the address, never 0.
    fn alloc(&mut self, size: usize) -> i32;
    fn write(&mut self, ptr: i32, bytes: &[u8]);
    fn read(&mut self, ptr: i32, len: usize) -> Vec<u8>;
    fn render_stream(&mut self, ptr: i32, len: usize) -> i32;
    fn apply_patch(&mut self, base: (i32, usize), patch: (i32, usize), out: (i32, usize)) -> i32;
    fn node_count(&mut self) -> i32;
    fn reset_heap(&mut self);
    fn reset(&mut self);
    fn host(&mut self) -> &mut Host;

    /// Allocates room for `bytes` and writes them there, as a host hands the client input.
    fn place(&mut self, bytes: &[u8]) -> i32 {
        let ptr = self.alloc(bytes.len());
        self.write(ptr, bytes);
        ptr
    }

    /// One stream, by the protocol of `spec/client-abi.md`: place it, render it, free it.
    fn render(&mut self, stream: &[u8]) -> i32 {
        let ptr = self.place(stream);
        let code = self.render_stream(ptr, stream.len());
        self.reset_heap();
        code
    }
}

fn i32_of(n: usize) -> i32 {
    i32::try_from(n).expect("fits the client's 32-bit address space")
}

/// A [`WasmRuntime`] and [`WasmClient`] for runtime crate `$rt`, in module `$module`. wasmi
/// and wasmtime have the same embedding API but for making an engine and instantiating, so
/// both get this one text: the imports, the fuel policy and the calls cannot drift apart.
macro_rules! runtime {
    ($module:ident, $rt:ident, |$config:ident| $engine:expr, $instantiate:ident) => {
        mod $module {
            use super::{FUEL_PER_CALL, Host, Import, MEMORY_CAP, State, i32_of, text};
            use $rt::{
                Caller, Config, Engine, Linker, Memory, Module, Store, StoreLimits,
                StoreLimitsBuilder, TypedFunc, WasmParams, WasmResults,
            };

            type HostState = State<Memory, StoreLimits>;

            /// An engine and the host's imports, made once.
            pub struct Runtime {
                engine: Engine,
                linker: Linker<HostState>,
                fuel: bool,
            }

            impl Runtime {
                /// With fuel metering on or off.
                pub fn new(fuel: bool) -> Self {
                    let mut $config = Config::default();
                    $config.consume_fuel(fuel);
                    let engine = $engine;
                    let linker = imports(&engine);
                    Self {
                        engine,
                        linker,
                        fuel,
                    }
                }
            }

            /// The imports of `spec/client-abi.md`, into the store's [`Host`].
            fn imports(engine: &Engine) -> Linker<HostState> {
                /// The memory and the host, borrowed together.
                fn parts<'a>(c: &'a mut Caller<'_, HostState>) -> (&'a mut [u8], &'a mut Host) {
                    let memory = c.data().memory.expect("the memory is set before any call");
                    let (memory, state) = memory.data_and_store_mut(c);
                    (memory, &mut state.host)
                }
                let mut linker = Linker::new(engine);
                linker
                    .func_wrap(
                        "env",
                        "host_clone_template",
                        |mut c: Caller<'_, HostState>, _template: i32| -> i32 {
                            c.data_mut().host.clone_template()
                        },
                    )
                    .and_then(|l| {
                        l.func_wrap(
                            "env",
                            "host_cache_template",
                            |mut c: Caller<'_, HostState>, _template: i32, ptr: i32, len: i32| {
                                let (memory, host) = parts(&mut c);
                                host.call(Import::CacheTemplate);
                                host.read(text(memory, ptr, len));
                            },
                        )
                    })
                    .and_then(|l| {
                        l.func_wrap(
                            "env",
                            "host_append",
                            |mut c: Caller<'_, HostState>, _parent: i32, _child: i32| {
                                c.data_mut().host.call(Import::Append);
                            },
                        )
                    })
                    .and_then(|l| {
                        l.func_wrap(
                            "env",
                            "host_remove",
                            |mut c: Caller<'_, HostState>, _node: i32| {
                                c.data_mut().host.call(Import::Remove);
                            },
                        )
                    })
                    .and_then(|l| {
                        l.func_wrap(
                            "env",
                            "host_set_text",
                            |mut c: Caller<'_, HostState>, _node: i32, ptr: i32, len: i32| {
                                let (memory, host) = parts(&mut c);
                                host.call(Import::SetText);
                                host.read(text(memory, ptr, len));
                            },
                        )
                    })
                    .and_then(|l| {
                        l.func_wrap(
                            "env",
                            "host_set_attr",
                            |mut c: Caller<'_, HostState>,
                             _node: i32,
                             key_ptr: i32,
                             key_len: i32,
                             value_ptr: i32,
                             value_len: i32| {
                                let (memory, host) = parts(&mut c);
                                host.call(Import::SetAttr);
                                host.read(text(memory, key_ptr, key_len));
                                host.read(text(memory, value_ptr, value_len));
                            },
                        )
                    })
                    .and_then(|l| {
                        l.func_wrap(
                            "env",
                            "host_toggle_class",
                            |mut c: Caller<'_, HostState>,
                             _node: i32,
                             ptr: i32,
                             len: i32,
                             _enable: i32| {
                                let (memory, host) = parts(&mut c);
                                host.call(Import::ToggleClass);
                                host.read(text(memory, ptr, len));
                            },
                        )
                    })
                    .and_then(|l| {
                        l.func_wrap(
                            "env",
                            "host_listen",
                            |mut c: Caller<'_, HostState>,
                             _node: i32,
                             _event: i32,
                             _handler: i32| {
                                c.data_mut().host.call(Import::Listen);
                            },
                        )
                    })
                    .and_then(|l| {
                        l.func_wrap(
                            "env",
                            "host_log",
                            |mut c: Caller<'_, HostState>, _value: i32| {
                                c.data_mut().host.call(Import::Log);
                            },
                        )
                    })
                    .expect("the imports link");
                linker
            }

            impl super::WasmRuntime for Runtime {
                type Module = Module;
                type Client = Client;

                fn compile(&self, wasm: &[u8]) -> Module {
                    Module::new(&self.engine, wasm).expect("the module compiles")
                }

                fn instantiate(&self, module: &Module) -> Client {
                    let state = State {
                        host: Host::default(),
                        memory: None,
                        limits: StoreLimitsBuilder::new()
                            .memory_size(MEMORY_CAP)
                            .instances(1)
                            .build(),
                    };
                    let mut store = Store::new(&self.engine, state);
                    store.limiter(|s| &mut s.limits);
                    if self.fuel {
                        store.set_fuel(FUEL_PER_CALL).expect("fuel is on");
                    }
                    let instance = self
                        .linker
                        .$instantiate(&mut store, module)
                        .expect("the module instantiates");
                    let memory = instance
                        .get_memory(&mut store, "memory")
                        .expect("a memory export");
                    store.data_mut().memory = Some(memory);
                    macro_rules! export {
                        ($name:literal) => {
                            instance
                                .get_typed_func(&mut store, $name)
                                .expect(concat!("an export ", $name))
                        };
                    }
                    let mut client = Client {
                        init: export!("init"),
                        alloc: export!("alloc"),
                        reset_heap: export!("reset_heap"),
                        render_stream: export!("render_stream"),
                        apply_patch: export!("apply_patch"),
                        get_node_count: export!("get_node_count"),
                        reset: export!("reset"),
                        store,
                        memory,
                        fuel: self.fuel,
                    };
                    let code = call(&mut client.store, client.fuel, &client.init, ());
                    assert_eq!(code, 0, "init");
                    client
                }
            }

            /// One export call, with a fresh fuel budget when metering is on.
            fn call<P: WasmParams, R: WasmResults>(
                store: &mut Store<HostState>,
                fuel: bool,
                f: &TypedFunc<P, R>,
                params: P,
            ) -> R {
                if fuel {
                    store.set_fuel(FUEL_PER_CALL).expect("fuel is on");
                }
                f.call(store, params).expect("the export returns")
            }

            /// An instance and its typed exports.
            pub struct Client {
                store: Store<HostState>,
                memory: Memory,
                fuel: bool,
                init: TypedFunc<(), i32>,
                alloc: TypedFunc<(i32, i32), i32>,
                reset_heap: TypedFunc<(), ()>,
                render_stream: TypedFunc<(i32, i32), i32>,
                apply_patch: TypedFunc<(i32, i32, i32, i32, i32, i32), i32>,
                get_node_count: TypedFunc<(), i32>,
                reset: TypedFunc<(), ()>,
            }

            impl super::WasmClient for Client {
                fn alloc(&mut self, size: usize) -> i32 {
                    let ptr = call(&mut self.store, self.fuel, &self.alloc, (i32_of(size), 1));
                    assert!(ptr > 0, "alloc({size}) failed");
                    ptr
                }

                fn write(&mut self, ptr: i32, bytes: &[u8]) {
                    let at = usize::try_from(ptr).unwrap();
                    self.memory
                        .write(&mut self.store, at, bytes)
                        .expect("in memory");
                }

                fn read(&mut self, ptr: i32, len: usize) -> Vec<u8> {
                    let mut out = vec![0; len];
                    let at = usize::try_from(ptr).unwrap();
                    self.memory
                        .read(&self.store, at, &mut out)
                        .expect("in memory");
                    out
                }

                fn render_stream(&mut self, ptr: i32, len: usize) -> i32 {
                    let args = (ptr, i32_of(len));
                    call(&mut self.store, self.fuel, &self.render_stream, args)
                }

                fn apply_patch(
                    &mut self,
                    base: (i32, usize),
                    patch: (i32, usize),
                    out: (i32, usize),
                ) -> i32 {
                    let args = (
                        base.0,
                        i32_of(base.1),
                        patch.0,
                        i32_of(patch.1),
                        out.0,
                        i32_of(out.1),
                    );
                    call(&mut self.store, self.fuel, &self.apply_patch, args)
                }

                fn node_count(&mut self) -> i32 {
                    call(&mut self.store, self.fuel, &self.get_node_count, ())
                }

                fn reset_heap(&mut self) {
                    call(&mut self.store, self.fuel, &self.reset_heap, ());
                }

                fn reset(&mut self) {
                    call(&mut self.store, self.fuel, &self.reset, ());
                }

                fn host(&mut self) -> &mut Host {
                    &mut self.store.data_mut().host
                }
            }
        }
    };
}

runtime!(
    wasmi_rt,
    wasmi,
    |config| Engine::new(&config),
    instantiate_and_start
);
runtime!(
    wasmtime_rt,
    wasmtime,
    |config| Engine::new(&config).expect("wasmtime supports this host"),
    instantiate
);

/// The figures of one runtime (compile, instantiate and first render are `None` natively).
struct Row {
    name: &'static str,
    compile: Option<Duration>,
    instantiate: Option<Duration>,
    first_render: Option<Duration>,
    /// Compile, instantiate and first render in one sample: a page's time to its first render.
    cold: Option<Duration>,
    render: Duration,
    patch: Duration,
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// The median over [`SAMPLES`] samples of the mean time of `reps` runs of `one` (which
/// returns the time of the part it measures), after one unmeasured run to warm up.
fn time_per_run(reps: usize, mut one: impl FnMut() -> Duration) -> Duration {
    one();
    median(
        (0..SAMPLES)
            .map(|_| (0..reps).map(|_| one()).sum::<Duration>() / u32::try_from(reps).unwrap())
            .collect(),
    )
}

/// After a render: it succeeded, created the stream's nodes and made the same host calls,
/// with the same text, as the stream says. Then `reset()` for the next one.
fn check_render(client: &mut impl WasmClient, code: i32, inputs: &Inputs) {
    assert_eq!(code, 0, "render_stream");
    assert_eq!(client.node_count(), inputs.clones, "get_node_count");
    assert_eq!(*client.host(), inputs.host, "the host's calls");
    *client.host() = Host::default();
    client.reset();
}

fn measure<R: WasmRuntime>(name: &'static str, runtime: &R, wasm: &[u8], inputs: &Inputs) -> Row {
    let (mut compile, mut instantiate, mut first_render, mut cold) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..SAMPLES {
        let started = Instant::now();
        let module = runtime.compile(wasm);
        let compiled = started.elapsed();
        let mut client = runtime.instantiate(&module);
        let instantiated = started.elapsed();
        let code = client.render(&inputs.stream);
        let rendered = started.elapsed();
        check_render(&mut client, code, inputs);
        compile.push(compiled);
        instantiate.push(instantiated - compiled);
        first_render.push(rendered - instantiated);
        cold.push(rendered);
    }

    let module = runtime.compile(wasm);
    let mut client = runtime.instantiate(&module);
    let render = time_per_run(RENDERS_PER_SAMPLE, || {
        let started = Instant::now();
        let code = client.render(&inputs.stream);
        let elapsed = started.elapsed();
        check_render(&mut client, code, inputs);
        elapsed
    });

    // The regions are placed once; each run rewrites the same target in `out`.
    let base = (client.place(&inputs.base), inputs.base.len());
    let diff = (client.place(&inputs.patch), inputs.patch.len());
    let out = (client.alloc(inputs.target.len()), inputs.target.len());
    assert_eq!(
        client.apply_patch(base, diff, out),
        i32_of(inputs.target.len())
    );
    assert!(
        client.read(out.0, out.1) == inputs.target,
        "apply_patch wrote the target"
    );
    let patch = time_per_run(PATCHES_PER_SAMPLE, || {
        let started = Instant::now();
        let written = client.apply_patch(base, diff, out);
        let elapsed = started.elapsed();
        assert_eq!(written, i32_of(inputs.target.len()), "apply_patch");
        elapsed
    });
    client.reset_heap();

    Row {
        name,
        compile: Some(median(compile)),
        instantiate: Some(median(instantiate)),
        first_render: Some(median(first_render)),
        cold: Some(median(cold)),
        render,
        patch,
    }
}

/// What the client does with a stream, natively: decode (which checks it) and walk its
/// operations, making the host calls the client makes.
fn native_render(bytes: &[u8], host: &mut Host) {
    let stream = stream::decode(bytes).expect("the page decodes");
    for op in stream.ops() {
        match op {
            Op::Clone { .. } => {
                host.clone_template();
            }
            Op::Cache { html, .. } => {
                host.call(Import::CacheTemplate);
                host.read(html.as_bytes());
            }
            Op::Append { .. } => host.call(Import::Append),
            Op::Remove { .. } => host.call(Import::Remove),
            Op::SetText { text, .. } => {
                host.call(Import::SetText);
                host.read(text.as_bytes());
            }
            Op::SetAttr { key, value, .. } => {
                host.call(Import::SetAttr);
                host.read(key.as_bytes());
                host.read(value.as_bytes());
            }
            Op::ToggleClass { class, .. } => {
                host.call(Import::ToggleClass);
                host.read(class.as_bytes());
            }
            Op::Listen { .. } => host.call(Import::Listen),
            Op::BatchBegin | Op::BatchCommit => {}
        }
    }
}

/// The native reference: the same stream through `stream::decode` and `ops()`, and the same
/// patch through `delta::apply_into` (what `delta::apply` runs after allocating the target,
/// here into a buffer made once, as the client writes into its `out` region).
fn measure_native(inputs: &Inputs) -> Row {
    let render = time_per_run(RENDERS_PER_SAMPLE, || {
        let mut host = Host::default();
        let started = Instant::now();
        native_render(&inputs.stream, &mut host);
        let elapsed = started.elapsed();
        assert_eq!(host, inputs.host);
        elapsed
    });
    assert!(delta::apply(&inputs.base, &inputs.patch, usize::MAX).unwrap() == inputs.target);
    let mut out = vec![0; inputs.target.len()];
    let patch = time_per_run(PATCHES_PER_SAMPLE, || {
        let started = Instant::now();
        let written = delta::apply_into(&inputs.base, &inputs.patch, &mut out);
        let elapsed = started.elapsed();
        assert_eq!(written, Ok(inputs.target.len()));
        elapsed
    });
    assert!(out == inputs.target);
    Row {
        name: "native (no wasm)",
        compile: None,
        instantiate: None,
        first_render: None,
        cold: None,
        render,
        patch,
    }
}

fn print_table(rows: &[Row], inputs: &Inputs) {
    let stream_mb = inputs.stream.len() as f64 / 1e6;
    let target_mb = inputs.target.len() as f64 / 1e6;
    let time = |d: Option<Duration>| d.map_or_else(|| "-".to_owned(), duration);
    println!(
        "{:<22} {:>10} {:>11} {:>10} {:>10} {:>9} {:>11} {:>7} {:>10}",
        "runtime",
        "compile",
        "instantiate",
        "1st render",
        "cold start",
        "render/s",
        "render MB/s",
        "ns/op",
        "patch MB/s"
    );
    for row in rows {
        let render = row.render.as_secs_f64();
        println!(
            "{:<22} {:>10} {:>11} {:>10} {:>10} {:>9} {:>11.1} {:>7.1} {:>10.1}",
            row.name,
            time(row.compile),
            time(row.instantiate),
            time(row.first_render),
            time(row.cold),
            thousands(1.0 / render),
            stream_mb / render,
            render * 1e9 / inputs.ops as f64,
            target_mb / row.patch.as_secs_f64(),
        );
    }

    println!("\nspeed relative to wasmi with fuel (its time / this time: > 1 is faster)");
    println!(
        "{:<22} {:>10} {:>11} {:>10} {:>10} {:>9} {:>10}",
        "runtime", "compile", "instantiate", "1st render", "cold start", "render", "patch"
    );
    let reference = &rows[0];
    let ratio = |this: Option<Duration>, of: Option<Duration>| match (this, of) {
        (Some(this), Some(of)) => format!("{:.2}x", of.as_secs_f64() / this.as_secs_f64()),
        _ => "-".to_owned(),
    };
    for row in rows {
        println!(
            "{:<22} {:>10} {:>11} {:>10} {:>10} {:>9} {:>10}",
            row.name,
            ratio(row.compile, reference.compile),
            ratio(row.instantiate, reference.instantiate),
            ratio(row.first_render, reference.first_render),
            ratio(row.cold, reference.cold),
            ratio(Some(row.render), Some(reference.render)),
            ratio(Some(row.patch), Some(reference.patch)),
        );
    }
}

/// A duration with a unit that keeps three or four digits.
fn duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{:.1} us", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// A whole number with thousands separators.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
