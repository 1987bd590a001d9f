//! The WebAssembly boundary (`spec/client-abi.md`): the `env` imports as a [`Host`], the
//! exports with every pointer and length checked against the memory, the bump allocator as
//! the global allocator, and a panic handler that the checked code never reaches.
//!
//! The client is single-threaded (wasm32 without threads), so its state lives in statics
//! behind a busy flag: an export called again from inside an import (a re-entrant host)
//! is refused instead of aliasing the state.

#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::{Cell, UnsafeCell};

use dx_htip::stream::InlineTables;
use dx_htip::{ErrorCode, Event, Text, delta};

use crate::bump::{Bump, PAGE};
use crate::client::Client;
use crate::host::Host;

/// The most memory the client grows to (16 MiB).
const MEMORY_LIMIT: usize = 256 * PAGE;

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn host_clone_template(template: i32) -> i32;
    fn host_cache_template(template: i32, ptr: i32, len: i32);
    fn host_append(parent: i32, child: i32);
    fn host_remove(node: i32);
    fn host_set_text(node: i32, ptr: i32, len: i32);
    fn host_set_attr(node: i32, key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32);
    fn host_toggle_class(node: i32, ptr: i32, len: i32, enable: i32);
    fn host_listen(node: i32, event: i32, handler: i32);
    fn host_log(value: i32);
}

/// The imports. Every string passed is a slice of a stream the client checked, inside its
/// memory, so its address and length fit in `i32`.
struct Imports;

fn raw(s: Text<'_>) -> (i32, i32) {
    (s.as_bytes().as_ptr() as i32, s.len() as i32)
}

impl Host for Imports {
    fn clone_template(&mut self, template: u16) -> i32 {
        unsafe { host_clone_template(i32::from(template)) }
    }
    fn cache_template(&mut self, template: u16, html: Text<'_>) {
        let (p, l) = raw(html);
        unsafe { host_cache_template(i32::from(template), p, l) }
    }
    fn append(&mut self, parent: i32, child: i32) {
        unsafe { host_append(parent, child) }
    }
    fn remove(&mut self, node: i32) {
        unsafe { host_remove(node) }
    }
    fn set_text(&mut self, node: i32, text: Text<'_>) {
        let (p, l) = raw(text);
        unsafe { host_set_text(node, p, l) }
    }
    fn set_attr(&mut self, node: i32, key: Text<'_>, value: Text<'_>) {
        let ((kp, kl), (vp, vl)) = (raw(key), raw(value));
        unsafe { host_set_attr(node, kp, kl, vp, vl) }
    }
    fn toggle_class(&mut self, node: i32, class: Text<'_>, enable: bool) {
        let (p, l) = raw(class);
        unsafe { host_toggle_class(node, p, l, i32::from(enable)) }
    }
    fn listen(&mut self, node: i32, event: Event, handler: u32) {
        unsafe { host_listen(node, i32::from(event.index()), handler as i32) }
    }
}

/// A value only this (single) thread touches.
struct Single<T>(UnsafeCell<T>);

// SAFETY: wasm32 without the threads proposal has one thread.
unsafe impl<T> Sync for Single<T> {}

static CLIENT: Single<Client<InlineTables>> =
    Single(UnsafeCell::new(Client::with_tables(InlineTables::new())));
/// Empty until the first export runs (`Bump::end` 0).
static HEAP: Single<Bump> = Single(UnsafeCell::new(Bump::new(0, 0, MEMORY_LIMIT)));
static BUSY: Single<Cell<bool>> = Single(UnsafeCell::new(Cell::new(false)));

fn memory_end() -> usize {
    wasm32::memory_size(0) * PAGE
}

/// Runs `f` on the heap. It starts at the end of the memory the module was instantiated
/// with, which the linker sizes to hold the static data and the stack (`__heap_base` would
/// reclaim the few kilobytes between, but in a `cdylib` it is not reliably defined). Not
/// re-entrant by construction: nothing in it calls out.
fn with_heap<R>(f: impl FnOnce(&mut Bump) -> R) -> R {
    // SAFETY: single thread, and `f` never reaches `with_heap` again.
    let heap = unsafe { &mut *HEAP.0.get() };
    if heap.end() == 0 {
        *heap = Bump::new(memory_end(), memory_end(), MEMORY_LIMIT);
    }
    f(heap)
}

fn grow(pages: usize) -> bool {
    wasm32::memory_grow(0, pages) != usize::MAX
}

/// Runs `f` on the client unless an export is already running (a host calling back in).
fn with_client(f: impl FnOnce(&mut Client<InlineTables>) -> i32) -> i32 {
    // SAFETY: single thread; the busy flag keeps a second `&mut` from existing.
    let busy = unsafe { &*BUSY.0.get() };
    if busy.replace(true) {
        return -i32::from(ErrorCode::HostFailed.code());
    }
    let client = unsafe { &mut *CLIENT.0.get() };
    let result = f(client);
    busy.set(false);
    result
}

struct BumpAllocator;

// SAFETY: regions never overlap until `reset_heap`, which the host calls once it no longer
// uses what it allocated; a failed request returns null.
unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        with_heap(|h| h.alloc(layout.size(), layout.align(), grow))
            .map_or(core::ptr::null_mut(), |a| a as *mut u8)
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOCATOR: BumpAllocator = BumpAllocator;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    wasm32::unreachable()
}

fn code(e: ErrorCode) -> i32 {
    -i32::from(e.code())
}

/// `ptr..ptr + len` as a range of addresses, if it lies inside the memory.
fn range(ptr: i32, len: i32) -> Result<(usize, usize), ErrorCode> {
    let (Ok(start), Ok(len)) = (usize::try_from(ptr), usize::try_from(len)) else {
        return Err(ErrorCode::BadRegion);
    };
    let end = start.checked_add(len).ok_or(ErrorCode::BadRegion)?;
    if end > memory_end() || (start == 0 && len > 0) {
        return Err(ErrorCode::BadRegion);
    }
    Ok((start, end))
}

/// The bytes at `ptr..ptr + len`.
fn bytes(ptr: i32, len: i32) -> Result<&'static [u8], ErrorCode> {
    let (start, end) = range(ptr, len)?;
    if start == end {
        return Ok(&[]);
    }
    // SAFETY: inside the memory, non-null; the host does not write it while we run.
    Ok(unsafe { core::slice::from_raw_parts(start as *const u8, end - start) })
}

#[unsafe(no_mangle)]
pub extern "C" fn init() -> i32 {
    with_heap(|_| ());
    0
}

#[unsafe(export_name = "alloc")]
pub extern "C" fn export_alloc(size: i32, align: i32) -> i32 {
    let (Ok(size), Ok(align)) = (usize::try_from(size), usize::try_from(align)) else {
        return 0;
    };
    with_heap(|h| h.alloc(size, align, grow))
        .and_then(|a| i32::try_from(a).ok())
        .unwrap_or(0)
}

#[unsafe(no_mangle)]
pub extern "C" fn reset_heap() {
    with_heap(Bump::reset);
}

#[unsafe(no_mangle)]
pub extern "C" fn render_stream(ptr: i32, len: i32) -> i32 {
    // Mutant: the stream's own header is trusted for its length over the caller's `len`.
    let len = if cfg!(feature = "mutant-trusts-length") {
        declared_len(ptr).unwrap_or(len)
    } else {
        len
    };
    let stream = match bytes(ptr, len) {
        Ok(b) => b,
        Err(e) => return code(e),
    };
    // Decoding allocates nothing: the tables are static.
    with_client(|client| match client.render(&mut Imports, stream) {
        Ok(()) => 0,
        Err(e) => {
            unsafe { host_log(code(e)) };
            code(e)
        }
    })
}

/// The length a stream's header declares (the trusts-length mutant's mistake).
fn declared_len(ptr: i32) -> Option<i32> {
    let header = bytes(ptr, dx_htip::stream::HEADER_LEN as i32).ok()?;
    let section = |at: usize| -> Option<i64> {
        let b: [u8; 4] = header.get(at..at + 4)?.try_into().ok()?;
        Some(i64::from(u32::from_le_bytes(b)))
    };
    let total = 20 + section(8)? + section(12)? + section(16)?;
    i32::try_from(total).ok()
}

#[unsafe(no_mangle)]
pub extern "C" fn on_event(handler: i32) -> i32 {
    with_client(|client| match client.on_event(handler as u32) {
        Ok(()) => 0,
        Err(e) => code(e),
    })
}

#[unsafe(no_mangle)]
pub extern "C" fn apply_patch(
    base_ptr: i32,
    base_len: i32,
    patch_ptr: i32,
    patch_len: i32,
    out_ptr: i32,
    out_cap: i32,
) -> i32 {
    let run = || -> Result<i32, ErrorCode> {
        let base = bytes(base_ptr, base_len)?;
        let patch = bytes(patch_ptr, patch_len)?;
        let (out_start, out_end) = range(out_ptr, out_cap)?;
        // The output must be heap the host allocated, apart from both inputs.
        let apart = |(s, e): (usize, usize)| e <= out_start || out_end <= s || s == e;
        if out_start < with_heap(|h| h.start())
            || !apart(range(base_ptr, base_len)?)
            || !apart(range(patch_ptr, patch_len)?)
        {
            return Err(ErrorCode::BadRegion);
        }
        let out: &mut [u8] = if out_start == out_end {
            &mut []
        } else {
            // SAFETY: inside the memory, in the heap (no static of ours), disjoint from
            // the inputs, non-null.
            unsafe { core::slice::from_raw_parts_mut(out_start as *mut u8, out_end - out_start) }
        };
        // Mutant: the patch is applied to whatever base it is given.
        let len = if cfg!(feature = "mutant-any-base") {
            let mut any = alloc::vec::Vec::new();
            any.try_reserve(patch.len())
                .map_err(|_| ErrorCode::OutOfMemory)?;
            any.extend_from_slice(patch);
            if let Some(field) = any.get_mut(8..12) {
                field.copy_from_slice(&(base.len() as u32).to_le_bytes());
            }
            if let Some(field) = any.get_mut(16..24) {
                field.copy_from_slice(&delta::hash(base).to_le_bytes());
            }
            delta::apply_into(base, &any, out)?
        } else {
            delta::apply_into(base, patch, out)?
        };
        i32::try_from(len).map_err(|_| ErrorCode::LimitExceeded)
    };
    run().unwrap_or_else(code)
}

#[unsafe(no_mangle)]
pub extern "C" fn get_node_count() -> i32 {
    with_client(|c| c.node_count() as i32)
}

#[unsafe(no_mangle)]
pub extern "C" fn get_template_count() -> i32 {
    with_client(|c| c.template_count() as i32)
}

#[unsafe(no_mangle)]
pub extern "C" fn reset() {
    with_client(|c| {
        c.reset();
        0
    });
}
