//! Runs a client module (`spec/client-abi.md`) in wasmi, or in Chromium with
//! `--client-runtime chromium` ([`crate::client::browser`]). Its imports are the [`MockHost`];
//! each export call gets a fuel budget in wasmi (so an endless loop ends as
//! [`Call::OutOfFuel`]) and a time limit in Chromium ([`Call::OutOfTime`]); its memory can grow
//! to [`MEMORY_CAP`] at most in both (past it `memory.grow` fails, as a browser's would at its
//! own limit). Anything the module does comes back as a value; nothing it does can panic or
//! hang the suite.

use std::sync::Arc;
use std::time::Duration;

use wasmi::{
    Caller, Config, Engine, ExternType, FuncType, Instance, Linker, Memory, Module, Store,
    StoreLimits, StoreLimitsBuilder, TrapCode, TypedFunc, ValType,
};

use crate::client::browser::BrowserInstance;
use crate::client::mock_host::{MockHost, TextRead};

/// Fuel per export call: a few hundred million wasm instructions, far more than rendering
/// a megabyte-long stream takes, far less than a suite would wait for.
pub const FUEL_PER_CALL: u64 = 500_000_000;
/// The most memory a client may have.
pub const MEMORY_CAP: usize = 64 << 20;

/// Why a module cannot be run as a client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Not a module wasmi accepts.
    #[error("not a valid WebAssembly module: {0}")]
    Invalid(String),
    /// Instantiation failed (an import the host does not provide, a trapping start).
    #[error("the module could not be instantiated: {0}")]
    Instantiate(String),
    /// An export of `spec/client-abi.md` is missing or has another signature.
    #[error("the module has no export `{0}` with the signature spec/client-abi.md gives")]
    MissingExport(&'static str),
    /// The runtime itself failed (Chromium went away): not the client's doing.
    #[error("the suite's client runtime failed: {0}")]
    Runtime(String),
    /// A host read or write outside the client's memory.
    #[error("{len} bytes at {ptr} are outside the client's memory")]
    OutOfBounds {
        /// The address.
        ptr: u64,
        /// The length.
        len: u64,
    },
}

/// What an export call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call<T> {
    /// It returned this.
    Returned(T),
    /// It trapped.
    Trapped(String),
    /// It ran out of fuel in wasmi: it would not have returned.
    OutOfFuel,
    /// It did not return within this time in Chromium, which ended its instance.
    OutOfTime(Duration),
    /// The runtime itself went away during the call (Chromium ended): nothing is known of
    /// what the client did, and it is not the client's doing.
    Lost(String),
}

impl<T> Call<T> {
    /// The value, if it returned.
    pub fn returned(self) -> Option<T> {
        match self {
            Call::Returned(v) => Some(v),
            _ => None,
        }
    }

    /// In words, for a report.
    pub fn describe(&self) -> String
    where
        T: std::fmt::Debug,
    {
        match self {
            Call::Returned(v) => format!("returned {v:?}"),
            Call::Trapped(why) => format!("trapped ({why})"),
            Call::OutOfFuel => format!("did not return within {FUEL_PER_CALL} units of fuel"),
            Call::OutOfTime(limit) => format!(
                "did not return within {} s in Chromium (its instance was ended)",
                limit.as_secs()
            ),
            Call::Lost(why) => format!("could not be judged: {why}"),
        }
    }

    fn map<U>(self, f: impl FnOnce(T) -> U) -> Call<U> {
        match self {
            Call::Returned(v) => Call::Returned(f(v)),
            Call::Trapped(why) => Call::Trapped(why),
            Call::OutOfFuel => Call::OutOfFuel,
            Call::OutOfTime(limit) => Call::OutOfTime(limit),
            Call::Lost(why) => Call::Lost(why),
        }
    }
}

/// The store's data: the host and its limits.
#[derive(Debug)]
struct HostState {
    host: MockHost,
    limits: StoreLimits,
}

/// A compiled client module; instantiate it once per independent run.
#[derive(Debug, Clone)]
pub struct ClientModule {
    engine: Engine,
    module: Module,
    bytes: Arc<[u8]>,
    id: u64,
}

/// The stack a module is compiled on. wasmi's translator recurses with large frames in a
/// debug build; compiled lazily, on a function's first call, it ran out of a test thread's
/// 2 MiB under cucumber's futures. So every function is compiled at load, on a thread of
/// its own with room to spare.
const COMPILE_STACK_BYTES: usize = 32 << 20;

impl ClientModule {
    /// Compiles `wasm`, every function at once (see [`COMPILE_STACK_BYTES`]).
    pub fn load(wasm: &[u8]) -> Result<Self, ClientError> {
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("dx-conformance-compile".into())
                .stack_size(COMPILE_STACK_BYTES)
                .spawn_scoped(scope, || Self::compile(wasm))
                .map_err(|e| ClientError::Invalid(format!("no thread to compile on: {e}")))?
                .join()
                .unwrap_or_else(|_| Err(ClientError::Invalid("the compiler panicked".into())))
        })
    }

    fn compile(wasm: &[u8]) -> Result<Self, ClientError> {
        let mut config = Config::default();
        config.consume_fuel(true);
        config.compilation_mode(wasmi::CompilationMode::Eager);
        let engine = Engine::new(&config);
        let module = Module::new(&engine, wasm).map_err(|e| ClientError::Invalid(e.to_string()))?;
        Ok(Self {
            engine,
            module,
            bytes: wasm.into(),
            id: xxhash_rust::xxh64::xxh64(wasm, 0),
        })
    }

    /// The module's size in bytes.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// The module's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The module's XXH64: the same bytes are the same module.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// What instantiating in wasmi checks before any code runs, read off the module: every
    /// import is one of `spec/client-abi.md` with its signature, every export it names is
    /// there with its signature, and its memory is exported. A runtime that links by name
    /// only (a browser's) is held to the same.
    pub fn check_abi(&self) -> Result<(), ClientError> {
        for import in self.module.imports() {
            let expected = HOST_IMPORTS
                .iter()
                .find(|(name, _, _)| import.module() == "env" && import.name() == *name);
            let fits = match (expected, import.ty()) {
                (Some((_, params, results)), ExternType::Func(ty)) => {
                    *ty == func_type(params, results)
                }
                _ => false,
            };
            if !fits {
                return Err(ClientError::Instantiate(format!(
                    "the module imports `{}::{}` as {:?}, which no host of spec/client-abi.md provides",
                    import.module(),
                    import.name(),
                    import.ty()
                )));
            }
        }
        for (name, params, results) in CLIENT_EXPORTS {
            let found = self
                .module
                .exports()
                .find(|export| export.name() == name)
                .map(|export| export.ty().clone());
            match found {
                Some(ExternType::Func(ty)) if ty == func_type(params, results) => {}
                _ => return Err(ClientError::MissingExport(name)),
            }
        }
        match self.module.exports().find(|e| e.name() == "memory") {
            Some(export) if matches!(export.ty(), ExternType::Memory(_)) => Ok(()),
            _ => Err(ClientError::MissingExport("memory")),
        }
    }

    /// A fresh instance in wasmi with a fresh [`MockHost`], after calling its `init`.
    pub fn instantiate(&self) -> Result<ClientInstance, ClientError> {
        let state = HostState {
            host: MockHost::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(MEMORY_CAP)
                .instances(1)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let linker = host_linker(&self.engine)?;
        store
            .set_fuel(FUEL_PER_CALL)
            .map_err(|e| ClientError::Instantiate(e.to_string()))?;
        let instance = linker
            .instantiate_and_start(&mut store, &self.module)
            .map_err(|e| ClientError::Instantiate(e.to_string()))?;
        let exports = Exports::of(&instance, &store)?;
        let memory = instance
            .get_memory(&store, "memory")
            .ok_or(ClientError::MissingExport("memory"))?;
        let mut client = ClientInstance {
            inner: Inner::Wasmi(Box::new(WasmiInstance {
                store,
                memory,
                exports,
            })),
        };
        match client.init() {
            Call::Returned(0) => Ok(client),
            other => Err(ClientError::Instantiate(format!(
                "init {}",
                other.describe()
            ))),
        }
    }
}

/// The exports, typed.
#[derive(Debug)]
struct Exports {
    init: TypedFunc<(), i32>,
    alloc: TypedFunc<(i32, i32), i32>,
    reset_heap: TypedFunc<(), ()>,
    render_stream: TypedFunc<(i32, i32), i32>,
    on_event: TypedFunc<i32, i32>,
    apply_patch: TypedFunc<(i32, i32, i32, i32, i32, i32), i32>,
    get_node_count: TypedFunc<(), i32>,
    get_template_count: TypedFunc<(), i32>,
    reset: TypedFunc<(), ()>,
}

impl Exports {
    fn of(instance: &Instance, store: &Store<HostState>) -> Result<Self, ClientError> {
        macro_rules! get {
            ($name:literal) => {
                instance
                    .get_typed_func(store, $name)
                    .map_err(|_| ClientError::MissingExport($name))?
            };
        }
        Ok(Self {
            init: get!("init"),
            alloc: get!("alloc"),
            reset_heap: get!("reset_heap"),
            render_stream: get!("render_stream"),
            on_event: get!("on_event"),
            apply_patch: get!("apply_patch"),
            get_node_count: get!("get_node_count"),
            get_template_count: get!("get_template_count"),
            reset: get!("reset"),
        })
    }
}

/// The bytes `ptr..ptr + len` of the caller's memory, or why not (in the words
/// `browser/worker.js` uses too).
fn read_text(caller: &Caller<'_, HostState>, ptr: i32, len: i32) -> TextRead {
    let memory = caller
        .get_export("memory")
        .and_then(wasmi::Extern::into_memory)
        .ok_or("no memory export")?;
    let data = memory.data(caller);
    let (Ok(start), Ok(len)) = (usize::try_from(ptr), usize::try_from(len)) else {
        return Err(format!("range {ptr}+{len} has a negative part"));
    };
    let bytes = start
        .checked_add(len)
        .and_then(|end| data.get(start..end))
        .ok_or_else(|| format!("range {ptr}+{len} is outside the memory of {}", data.len()))?;
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("{len} bytes at {ptr} are not UTF-8"))
}

/// A signature: its parameters and results, all `i32`.
type Signature = (&'static str, &'static [ValType], &'static [ValType]);

const I32: ValType = ValType::I32;

/// The host imports of `spec/client-abi.md` (module `env`).
const HOST_IMPORTS: [Signature; 9] = [
    ("host_clone_template", &[I32], &[I32]),
    ("host_cache_template", &[I32, I32, I32], &[]),
    ("host_append", &[I32, I32], &[]),
    ("host_remove", &[I32], &[]),
    ("host_set_text", &[I32, I32, I32], &[]),
    ("host_set_attr", &[I32, I32, I32, I32, I32], &[]),
    ("host_toggle_class", &[I32, I32, I32, I32], &[]),
    ("host_listen", &[I32, I32, I32], &[]),
    ("host_log", &[I32], &[]),
];

/// The exports of `spec/client-abi.md` besides `memory`.
const CLIENT_EXPORTS: [Signature; 9] = [
    ("init", &[], &[I32]),
    ("alloc", &[I32, I32], &[I32]),
    ("reset_heap", &[], &[]),
    ("render_stream", &[I32, I32], &[I32]),
    ("on_event", &[I32], &[I32]),
    ("apply_patch", &[I32, I32, I32, I32, I32, I32], &[I32]),
    ("get_node_count", &[], &[I32]),
    ("get_template_count", &[], &[I32]),
    ("reset", &[], &[]),
];

fn func_type(params: &[ValType], results: &[ValType]) -> FuncType {
    FuncType::new(params.iter().copied(), results.iter().copied())
}

/// The `env` imports of `spec/client-abi.md`, recording into the store's [`MockHost`].
fn host_linker(engine: &Engine) -> Result<Linker<HostState>, ClientError> {
    let mut linker = Linker::<HostState>::new(engine);
    let link = |e: wasmi::errors::LinkerError| ClientError::Instantiate(e.to_string());
    linker
        .func_wrap(
            "env",
            "host_clone_template",
            |mut c: Caller<'_, HostState>, template: i32| -> i32 {
                c.data_mut().host.clone_template(template)
            },
        )
        .map_err(link)?
        .func_wrap(
            "env",
            "host_cache_template",
            |mut c: Caller<'_, HostState>, template: i32, ptr: i32, len: i32| {
                let html = read_text(&c, ptr, len);
                c.data_mut().host.import_cache_template(template, html);
            },
        )
        .map_err(link)?
        .func_wrap(
            "env",
            "host_append",
            |mut c: Caller<'_, HostState>, parent: i32, child: i32| {
                c.data_mut().host.import_append(parent, child);
            },
        )
        .map_err(link)?
        .func_wrap(
            "env",
            "host_remove",
            |mut c: Caller<'_, HostState>, id: i32| {
                c.data_mut().host.import_remove(id);
            },
        )
        .map_err(link)?
        .func_wrap(
            "env",
            "host_set_text",
            |mut c: Caller<'_, HostState>, id: i32, ptr: i32, len: i32| {
                let text = read_text(&c, ptr, len);
                c.data_mut().host.import_set_text(id, text);
            },
        )
        .map_err(link)?
        .func_wrap(
            "env",
            "host_set_attr",
            |mut c: Caller<'_, HostState>, id: i32, kp: i32, kl: i32, vp: i32, vl: i32| {
                let (key, value) = (read_text(&c, kp, kl), read_text(&c, vp, vl));
                c.data_mut().host.import_set_attr(id, key, value);
            },
        )
        .map_err(link)?
        .func_wrap(
            "env",
            "host_toggle_class",
            |mut c: Caller<'_, HostState>, id: i32, ptr: i32, len: i32, enable: i32| {
                let class = read_text(&c, ptr, len);
                c.data_mut().host.import_toggle_class(id, class, enable);
            },
        )
        .map_err(link)?
        .func_wrap(
            "env",
            "host_listen",
            |mut c: Caller<'_, HostState>, id: i32, event: i32, handler: i32| {
                c.data_mut().host.import_listen(id, event, handler);
            },
        )
        .map_err(link)?
        .func_wrap(
            "env",
            "host_log",
            |mut c: Caller<'_, HostState>, value: i32| {
                c.data_mut().host.import_log(value);
            },
        )
        .map_err(link)?;
    Ok(linker)
}

/// A client running in wasmi.
#[derive(Debug)]
struct WasmiInstance {
    store: Store<HostState>,
    memory: Memory,
    exports: Exports,
}

impl WasmiInstance {
    fn call<P: wasmi::WasmParams, R: wasmi::WasmResults>(
        &mut self,
        f: TypedFunc<P, R>,
        params: P,
    ) -> Call<R> {
        if let Err(e) = self.store.set_fuel(FUEL_PER_CALL) {
            return Call::Trapped(format!("fuel could not be set: {e}"));
        }
        match f.call(&mut self.store, params) {
            Ok(value) => Call::Returned(value),
            Err(e) if e.as_trap_code() == Some(TrapCode::OutOfFuel) => Call::OutOfFuel,
            Err(e) => Call::Trapped(e.to_string()),
        }
    }

    fn write(&mut self, start: usize, bytes: &[u8]) -> bool {
        self.memory.write(&mut self.store, start, bytes).is_ok()
    }

    fn read(&self, start: usize, out: &mut [u8]) -> bool {
        self.memory.read(&self.store, start, out).is_ok()
    }
}

/// Where a client runs.
#[derive(Debug)]
enum Inner {
    // Both boxed: a wasmi store is large, a browser instance holds a host; instances move.
    Wasmi(Box<WasmiInstance>),
    Chromium(Box<BrowserInstance>),
}

/// One running client and its host, in wasmi or in Chromium: the checks cannot tell which.
#[derive(Debug)]
pub struct ClientInstance {
    inner: Inner,
}

impl From<BrowserInstance> for ClientInstance {
    fn from(instance: BrowserInstance) -> Self {
        Self {
            inner: Inner::Chromium(Box::new(instance)),
        }
    }
}

/// Calls export `$name` (`$field` of wasmi's typed exports) with `$args`.
macro_rules! export_call {
    ($self:ident, $field:ident, $name:literal, ($($arg:expr),*), i32) => {
        match &mut $self.inner {
            Inner::Wasmi(w) => { let f = w.exports.$field; w.call(f, ($($arg),*)) }
            Inner::Chromium(b) => b.call($name, &[$($arg),*]).map(|v| v.unwrap_or_default()),
        }
    };
    ($self:ident, $field:ident, $name:literal, ($($arg:expr),*), ()) => {
        match &mut $self.inner {
            Inner::Wasmi(w) => { let f = w.exports.$field; w.call(f, ($($arg),*)) }
            Inner::Chromium(b) => b.call($name, &[$($arg),*]).map(|_| ()),
        }
    };
}

impl ClientInstance {
    /// `init()`.
    pub fn init(&mut self) -> Call<i32> {
        export_call!(self, init, "init", (), i32)
    }

    /// `alloc(size, align)`.
    pub fn alloc(&mut self, size: i32, align: i32) -> Call<i32> {
        export_call!(self, alloc, "alloc", (size, align), i32)
    }

    /// `reset_heap()`.
    pub fn reset_heap(&mut self) -> Call<()> {
        export_call!(self, reset_heap, "reset_heap", (), ())
    }

    /// `render_stream(ptr, len)`.
    pub fn render_stream(&mut self, ptr: i32, len: i32) -> Call<i32> {
        export_call!(self, render_stream, "render_stream", (ptr, len), i32)
    }

    /// `on_event(handler)`.
    pub fn on_event(&mut self, handler: i32) -> Call<i32> {
        export_call!(self, on_event, "on_event", (handler), i32)
    }

    /// `apply_patch(base, patch, out)`.
    pub fn apply_patch(
        &mut self,
        base: (i32, i32),
        patch: (i32, i32),
        out: (i32, i32),
    ) -> Call<i32> {
        export_call!(
            self,
            apply_patch,
            "apply_patch",
            (base.0, base.1, patch.0, patch.1, out.0, out.1),
            i32
        )
    }

    /// `get_node_count()`.
    pub fn node_count(&mut self) -> Call<i32> {
        export_call!(self, get_node_count, "get_node_count", (), i32)
    }

    /// `get_template_count()`.
    pub fn template_count(&mut self) -> Call<i32> {
        export_call!(self, get_template_count, "get_template_count", (), i32)
    }

    /// `reset()`.
    pub fn reset(&mut self) -> Call<()> {
        export_call!(self, reset, "reset", (), ())
    }

    /// The memory's length now.
    pub fn memory_len(&self) -> usize {
        match &self.inner {
            Inner::Wasmi(w) => w.memory.data(&w.store).len(),
            Inner::Chromium(b) => b.memory_len(),
        }
    }

    /// Writes `bytes` at `ptr` (as a host writes a stream into the client's memory).
    pub fn write(&mut self, ptr: i32, bytes: &[u8]) -> Result<(), ClientError> {
        let bad = || ClientError::OutOfBounds {
            ptr: ptr as u64,
            len: bytes.len() as u64,
        };
        match &mut self.inner {
            Inner::Wasmi(w) => {
                let start = usize::try_from(ptr).map_err(|_| bad())?;
                w.write(start, bytes).then_some(()).ok_or_else(bad)
            }
            Inner::Chromium(b) => b.write(ptr, bytes),
        }
    }

    /// Reads `len` bytes at `ptr`.
    pub fn read(&mut self, ptr: i32, len: usize) -> Result<Vec<u8>, ClientError> {
        let bad = || ClientError::OutOfBounds {
            ptr: ptr as u64,
            len: len as u64,
        };
        match &mut self.inner {
            Inner::Wasmi(w) => {
                let start = usize::try_from(ptr).map_err(|_| bad())?;
                let mut out = vec![0; len];
                w.read(start, &mut out).then_some(out).ok_or_else(bad)
            }
            Inner::Chromium(b) => b.read(ptr, len),
        }
    }

    /// Allocates room for `bytes` in the client and writes them there: the address, or
    /// what the allocation call did when it gave none.
    pub fn place(&mut self, bytes: &[u8], align: i32) -> Result<i32, Call<i32>> {
        let len = i32::try_from(bytes.len()).map_err(|_| Call::Returned(0))?;
        match self.alloc(len, align) {
            Call::Returned(ptr) if ptr > 0 => match self.write(ptr, bytes) {
                Ok(()) => Ok(ptr),
                Err(ClientError::Runtime(why)) => Err(Call::Lost(why)),
                Err(e) => Err(Call::Trapped(e.to_string())),
            },
            other => Err(other),
        }
    }

    /// Places `stream` and renders it.
    pub fn render(&mut self, stream: &[u8]) -> Result<Call<i32>, Call<i32>> {
        let ptr = self.place(stream, 1)?;
        let len = i32::try_from(stream.len()).map_err(|_| Call::Returned(0))?;
        Ok(self.render_stream(ptr, len))
    }

    /// The host.
    pub fn host(&self) -> &MockHost {
        match &self.inner {
            Inner::Wasmi(w) => &w.store.data().host,
            Inner::Chromium(b) => b.host(),
        }
    }

    /// The host, to define templates or clear it.
    pub fn host_mut(&mut self) -> &mut MockHost {
        match &mut self.inner {
            Inner::Wasmi(w) => &mut w.store.data_mut().host,
            Inner::Chromium(b) => b.host_mut(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference() -> Option<ClientModule> {
        dx_server::routes::client::client_wasm().map(|w| ClientModule::load(w).unwrap())
    }

    #[test]
    fn the_reference_client_allocates_and_renders() {
        let Some(module) = reference() else {
            eprintln!("note: dx-server was built without its client");
            return;
        };
        let mut client = module.instantiate().unwrap();
        let memory = client.memory_len();
        let a = client.alloc(16, 8);
        assert!(
            matches!(a, Call::Returned(p) if p > 0),
            "{a:?} with {memory} bytes of memory"
        );
    }

    #[test]
    fn garbage_is_not_a_client() {
        assert!(matches!(
            ClientModule::load(b"\0asm junk"),
            Err(ClientError::Invalid(_))
        ));
        // A valid module without the exports.
        let empty = [0, b'a', b's', b'm', 1, 0, 0, 0];
        let module = ClientModule::load(&empty).unwrap();
        assert!(matches!(
            module.instantiate(),
            Err(ClientError::MissingExport(_))
        ));
    }
}
