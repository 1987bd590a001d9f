//! Feature: production-readiness, Property 10: Allocator Non-Overlap
//!
//! Black-box form, through the client's `alloc` export. proptest generates sequences of
//! requests (sizes up to 64 KiB, every power-of-two alignment up to 65,536, and invalid
//! ones: zero, not a power of two, above 65,536, negative sizes) after a `reset_heap`. Every
//! call must return; an invalid request must get 0; a valid one within the first MiB must
//! be served; every region served must be aligned at its address, inside the memory, and
//! disjoint from the others. Each region is then filled with a pattern of its own and all
//! are read back at the end, so an allocator that hands out overlapping memory, or writes
//! into regions it handed out, is caught by the bytes as well as by the addresses. One more
//! case exhausts the heap, calls `reset_heap` and asks for 1 MiB again, which must be served.

use proptest::prelude::*;

use crate::cases::{CaseConfig, CaseFailure, for_all, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::client::{ClientArea, area, returned};
use crate::clause::client as cc;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 10,
    run: run_check,
};

/// What `alloc` must serve after `reset_heap` (`spec/client-abi.md`).
const FLOOR: i64 = 1 << 20;
/// The largest alignment the ABI allows.
const MAX_ALIGN: i32 = 65_536;

/// One `alloc(size, align)`.
#[derive(Debug, Clone, Copy)]
struct Request {
    size: i32,
    align: i32,
}

impl Request {
    fn is_valid(self) -> bool {
        self.size >= 0 && self.align > 0 && self.align <= MAX_ALIGN && self.align.count_ones() == 1
    }
}

fn request() -> impl Strategy<Value = Request> {
    let align = prop_oneof![
        8 => (0u32..=16).prop_map(|s| 1i32 << s),
        1 => prop::sample::select(vec![0, 3, 6, 12, 100, 131_072, -8, i32::MIN]),
    ];
    let size = prop_oneof![
        6 => 0i32..256,
        3 => 0i32..65_536,
        1 => prop::sample::select(vec![-1, i32::MIN, i32::MAX]),
    ];
    (size, align).prop_map(|(size, align)| Request { size, align })
}

fn case(client_area: &ClientArea, requests: &[Request]) -> Result<(), CaseFailure> {
    let mut client = client_area.instance()?;
    returned(client.reset_heap(), "reset_heap()")?;
    let mut regions: Vec<(i64, i64, u8)> = Vec::new();
    let mut budget = FLOOR;
    for (i, r) in requests.iter().enumerate() {
        let ptr = returned(
            client.alloc(r.size, r.align),
            &format!("alloc({}, {})", r.size, r.align),
        )?;
        let ptr = i64::from(ptr);
        if !r.is_valid() {
            if ptr != 0 {
                return Err(CaseFailure::plain(
                    cc::ALLOC_EXPORT.cite(),
                    format!(
                        "alloc({}, {}) returned {ptr} for an invalid request",
                        r.size, r.align
                    ),
                ));
            }
            continue;
        }
        let (size, align) = (i64::from(r.size), i64::from(r.align));
        budget -= size + align - 1;
        if ptr == 0 {
            if budget >= 0 {
                return Err(CaseFailure::plain(
                    cc::ALLOC_FLOOR.cite(),
                    format!(
                        "alloc({}, {}) returned 0 with {} bytes asked since reset_heap",
                        r.size,
                        r.align,
                        FLOOR - budget
                    ),
                ));
            }
            continue;
        }
        let memory = client.memory_len() as i64;
        if ptr % align != 0 || ptr < 0 || ptr + size > memory {
            return Err(CaseFailure::plain(
                cc::ALLOC_DISJOINT.cite(),
                format!(
                    "alloc({}, {}) returned {ptr} (memory is {memory} bytes)",
                    r.size, r.align
                ),
            ));
        }
        if let Some(&(other, other_size, _)) = regions
            .iter()
            .find(|(p, s, _)| size > 0 && *s > 0 && ptr < p + s && *p < ptr + size)
        {
            return Err(CaseFailure::plain(
                cc::ALLOC_DISJOINT.cite(),
                format!("{ptr}+{size} overlaps {other}+{other_size}, handed out earlier"),
            ));
        }
        let pattern = (i % 251) as u8 + 1;
        let fill = vec![pattern; r.size as usize];
        client
            .write(ptr as i32, &fill)
            .map_err(|e| super::memory_failure(cc::ALLOC_DISJOINT.cite(), e))?;
        regions.push((ptr, size, pattern));
    }
    for &(ptr, size, pattern) in &regions {
        let bytes = client
            .read(ptr as i32, size as usize)
            .map_err(|e| super::memory_failure(cc::ALLOC_DISJOINT.cite(), e))?;
        if let Some(at) = bytes.iter().position(|b| *b != pattern) {
            return Err(CaseFailure::plain(
                cc::ALLOC_DISJOINT.cite(),
                format!(
                    "the region at {ptr}+{size} no longer holds what was written: byte {at} is {} (another region or the allocator wrote it)",
                    bytes[at]
                ),
            ));
        }
    }
    Ok(())
}

/// The size of each request that exhausts the heap.
const EXHAUSTING: i32 = 1 << 20;
/// The size of each request after the reset: sixteen of them, with alignment padding, stay
/// within the 1 MiB a client must serve.
const AFTER_RESET: i32 = (1 << 16) - 8;

/// The enumerated case: `alloc` until the client says 0 (its own limit, or the host's memory
/// cap), then `reset_heap`, then 1 MiB in sixteen requests: each must be served, aligned,
/// inside the memory and disjoint from the others. A `reset_heap` that forgets nothing
/// leaves an exhausted heap.
fn exhausted_then_reset(client_area: &ClientArea) -> Result<(), CaseFailure> {
    let mut client = client_area.instance()?;
    let most = crate::client::runtime::MEMORY_CAP / EXHAUSTING as usize + 1;
    let mut served = 0usize;
    loop {
        let ptr = returned(
            client.alloc(EXHAUSTING, 8),
            &format!("alloc({EXHAUSTING}, 8)"),
        )?;
        if ptr == 0 {
            break;
        }
        served += 1;
        if served > most {
            return Err(CaseFailure::plain(
                cc::ALLOC_DISJOINT.cite(),
                format!(
                    "alloc({EXHAUSTING}, 8) served {served} times, more than the memory can hold ({} bytes at most)",
                    crate::client::runtime::MEMORY_CAP
                ),
            ));
        }
    }
    returned(client.reset_heap(), "reset_heap()")?;
    let mut regions: Vec<i64> = Vec::new();
    for i in 0..16 {
        let ptr = i64::from(returned(
            client.alloc(AFTER_RESET, 8),
            &format!("alloc({AFTER_RESET}, 8)"),
        )?);
        let size = i64::from(AFTER_RESET);
        if ptr == 0 {
            return Err(CaseFailure::plain(
                cc::ALLOC_FLOOR.cite(),
                format!(
                    "after {served} MiB served, 0 from alloc and reset_heap(), alloc({AFTER_RESET}, 8) number {} returned 0 with {} bytes asked since reset_heap",
                    i + 1,
                    (i + 1) * (i64::from(AFTER_RESET) + 7)
                ),
            ));
        }
        let memory = client.memory_len() as i64;
        if ptr % 8 != 0 || ptr + size > memory {
            return Err(CaseFailure::plain(
                cc::ALLOC_DISJOINT.cite(),
                format!(
                    "after reset_heap(), alloc({AFTER_RESET}, 8) returned {ptr} (memory is {memory} bytes)"
                ),
            ));
        }
        if let Some(other) = regions.iter().find(|p| ptr < *p + size && **p < ptr + size) {
            return Err(CaseFailure::plain(
                cc::ALLOC_DISJOINT.cite(),
                format!(
                    "after reset_heap(), {ptr}+{size} overlaps {other}+{size}, handed out since"
                ),
            ));
        }
        regions.push(ptr);
    }
    Ok(())
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let client = match area(target).await {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let strategy = prop::collection::vec(request(), 1..48);
        let generated = for_all(strategy, config, |requests| {
            let result = case(&client, &requests);
            async move { result }
        })
        .await;
        if generated.is_failed() {
            return CheckOutcome::Ran(generated);
        }
        let client = &client;
        CheckOutcome::Ran(
            generated.followed_by(
                for_each(&[()], |()| {
                    let result = exhausted_then_reset(client);
                    async move { result }
                })
                .await,
            ),
        )
    })
}
