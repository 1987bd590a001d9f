//! The bump allocator's arithmetic, apart from the memory it manages so that it can be
//! tested natively (Property 10): regions are aligned at their real address, never overlap
//! until `reset`, grow the memory a page at a time up to a limit, and a request that cannot
//! be met is `None` (the export returns 0), never a trap.

/// A WebAssembly page.
pub const PAGE: usize = 64 * 1024;
/// The largest alignment `alloc` accepts.
pub const MAX_ALIGN: usize = PAGE;

/// A bump allocator over addresses `start..end` of a memory that can grow to `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bump {
    start: usize,
    top: usize,
    end: usize,
    limit: usize,
}

impl Bump {
    /// An allocator handing out `start..end`, growing `end` (a page boundary) up to `limit`.
    pub const fn new(start: usize, end: usize, limit: usize) -> Self {
        Self {
            start,
            top: start,
            end,
            limit,
        }
    }

    /// A region of `size` bytes at an address that is a multiple of `align`, growing the
    /// memory with `grow(pages)` (true when it grew) when the region does not fit.
    pub fn alloc(
        &mut self,
        size: usize,
        align: usize,
        mut grow: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        if align == 0 || !align.is_power_of_two() || align > MAX_ALIGN {
            return None;
        }
        // Round the real address up, not an offset from `start`.
        let address = self.top.checked_add(align - 1)? & !(align - 1);
        let new_top = address.checked_add(size)?;
        if new_top > self.limit {
            return None;
        }
        if new_top > self.end {
            let pages = (new_top - self.end).div_ceil(PAGE);
            if !grow(pages) {
                return None;
            }
            self.end = self.end.checked_add(pages * PAGE)?;
        }
        // Mutant: the next region starts at the size rounded down to 8 bytes, so a region of
        // an unaligned size overlaps the next one.
        self.top = if cfg!(feature = "mutant-overlapping-alloc") {
            address + (size & !7)
        } else {
            new_top
        };
        Some(address)
    }

    /// Where the heap starts.
    pub fn start(&self) -> usize {
        self.start
    }

    /// Where the next region would start (before alignment).
    pub fn top(&self) -> usize {
        self.top
    }

    /// Forgets every region.
    pub fn reset(&mut self) {
        self.top = self.start;
    }

    /// The end of the memory now.
    pub fn end(&self) -> usize {
        self.end
    }

    /// Bytes handed out since the start (alignment padding included).
    pub fn used(&self) -> usize {
        self.top - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// An allocator as the client starts: its data below 1 MiB, one page of heap, up to
    /// 16 MiB of memory.
    fn fresh() -> Bump {
        Bump::new(0x10_0123, 0x11_0000, 16 << 20)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Feature: production-readiness, Property 10: Allocator Non-Overlap
        ///
        /// Any sequence of requests, until exhaustion and past it: every region is aligned at
        /// its real address, inside the memory, and overlaps no other; a request that
        /// cannot be met returns nothing and changes nothing.
        #[test]
        fn regions_never_overlap_and_are_aligned(
            requests in prop::collection::vec((0usize..300_000, 0u32..18), 1..200),
        ) {
            let mut bump = fresh();
            let mut memory_end = bump.end();
            let mut regions: Vec<(usize, usize)> = Vec::new();
            for (size, shift) in requests {
                let align = 1usize << shift;
                let before = bump.clone();
                match bump.alloc(size, align, |pages| {
                    memory_end += pages * PAGE;
                    true
                }) {
                    Some(address) => {
                        prop_assert!(align <= MAX_ALIGN);
                        prop_assert_eq!(address % align, 0, "aligned at the real address");
                        prop_assert!(address >= 0x10_0123);
                        prop_assert!(address + size <= memory_end, "inside the memory");
                        prop_assert!(address + size <= 16 << 20, "within the limit");
                        for &(a, s) in &regions {
                            prop_assert!(address + size <= a || a + s <= address || size == 0 || s == 0,
                                "{address}+{size} overlaps {a}+{s}");
                        }
                        regions.push((address, size));
                    }
                    None => {
                        let aligned = (before.top() + align - 1) & !(align - 1);
                        prop_assert!(align > MAX_ALIGN || aligned + size > 16 << 20,
                            "refused {size} at {align} with room");
                        prop_assert_eq!(&bump, &before, "a refusal changes nothing");
                    }
                }
            }
        }
    }

    #[test]
    fn bad_alignments_are_refused() {
        let mut bump = fresh();
        for align in [0, 3, 6, 12, MAX_ALIGN * 2] {
            assert_eq!(bump.alloc(8, align, |_| true), None, "{align}");
        }
        assert_eq!(bump.alloc(8, MAX_ALIGN, |_| true), Some(0x11_0000));
    }

    #[test]
    fn exhaustion_is_none_not_a_trap() {
        let mut bump = Bump::new(1024, PAGE, 3 * PAGE);
        assert_eq!(bump.alloc(PAGE, 1, |_| true), Some(1024));
        assert_eq!(bump.end(), 2 * PAGE);
        let before = bump.clone();
        assert_eq!(
            bump.alloc(PAGE, 1, |_| false),
            None,
            "the memory would not grow"
        );
        assert_eq!(bump, before);
        assert_eq!(bump.alloc(2 * PAGE, 1, |_| true), None, "past the limit");
        assert_eq!(bump.alloc(usize::MAX, 1, |_| true), None, "overflow");
        // 1024 + PAGE rounded up to 32 KiB, the next multiple of the alignment.
        assert_eq!(bump.alloc(8, 1 << 15, |_| true), Some(3 * PAGE / 2));
        let rest = 3 * PAGE - (3 * PAGE / 2 + 8);
        assert_eq!(bump.alloc(rest, 1, |_| true), Some(3 * PAGE / 2 + 8));
        assert_eq!(bump.end(), 3 * PAGE);
        assert_eq!(bump.alloc(1, 1, |_| true), None, "full to the byte");
        assert_eq!(
            bump.alloc(0, 1, |_| true),
            Some(3 * PAGE),
            "an empty region fits"
        );
    }

    #[test]
    fn growth_is_by_whole_pages_when_needed() {
        let mut bump = Bump::new(0, PAGE, 8 * PAGE);
        let mut grown = Vec::new();
        assert_eq!(
            bump.alloc(PAGE, 1, |p| {
                grown.push(p);
                true
            }),
            Some(0)
        );
        assert!(grown.is_empty(), "it fitted");
        assert_eq!(
            bump.alloc(PAGE + 1, 1, |p| {
                grown.push(p);
                true
            }),
            Some(PAGE)
        );
        assert_eq!(grown, [2]);
        assert_eq!(bump.end(), 3 * PAGE);
    }

    #[test]
    fn resetting_reuses_memory() {
        let mut bump = fresh();
        let first = bump.alloc(100, 8, |_| true).unwrap();
        let second = bump.alloc(1000, 8, |_| true).unwrap();
        assert_eq!(bump.top(), second + 1000);
        assert_eq!(bump.start(), 0x10_0123);
        assert_eq!(bump.used(), second + 1000 - 0x10_0123);
        bump.reset();
        assert_eq!(bump.alloc(100, 8, |_| true), Some(first));
    }
}
