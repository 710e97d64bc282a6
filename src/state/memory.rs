//! The process's memory as the allocator and the kernel see it: bytes allocated (mimalloc's
//! pages, walked on demand), the allocator's committed memory, the resident set, the peak, and
//! the machine's memory. Read by INFO and the metrics endpoint; nothing here runs per command.
//! Depends on nothing in the crate.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

// Links mimalloc into every build of the library (tests, benches), not only the binary.
extern crate mimalloc as _;

/// mimalloc's `mi_heap_area_t`: one page of blocks of one size.
#[repr(C)]
struct HeapArea {
    blocks: *mut c_void,
    reserved: usize,
    /// Bytes of the page handed out to blocks so far (in use or free).
    committed: usize,
    /// Blocks in use.
    used: usize,
    /// Usable bytes of each block.
    block_size: usize,
    full_block_size: usize,
    reserved1: *mut c_void,
}

type VisitFn = extern "C" fn(
    heap: *const c_void,
    area: *const HeapArea,
    block: *mut c_void,
    block_size: usize,
    arg: *mut c_void,
) -> bool;

extern "C" {
    /// mimalloc's `MI_MALLOC_VERSION`: major * 10000 + minor * 100 + patch.
    fn mi_version() -> std::ffi::c_int;
    fn mi_collect(force: bool);
    fn mi_is_in_heap_region(p: *const c_void) -> bool;
    fn mi_usable_size(p: *const c_void) -> usize;
    fn mi_heap_main() -> *mut c_void;
    fn mi_heap_visit_blocks(
        heap: *mut c_void,
        visit_blocks: bool,
        visitor: VisitFn,
        arg: *mut c_void,
    ) -> bool;
    fn mi_process_info(
        elapsed_msecs: *mut usize,
        user_msecs: *mut usize,
        system_msecs: *mut usize,
        current_rss: *mut usize,
        peak_rss: *mut usize,
        current_commit: *mut usize,
        peak_commit: *mut usize,
        page_faults: *mut usize,
    );
}

/// The allocator's figures at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Allocator {
    /// Bytes in blocks in use (Redis's `used_memory`, `allocator_allocated`).
    pub allocated: u64,
    /// Bytes of the pages that hold blocks, in use or free (`allocator_active`).
    pub active: u64,
    /// Bytes mimalloc has committed from the system (`allocator_resident`).
    pub resident: u64,
}

extern "C" fn add_area(
    _heap: *const c_void,
    area: *const HeapArea,
    _block: *mut c_void,
    _block_size: usize,
    arg: *mut c_void,
) -> bool {
    // SAFETY: mimalloc passes a valid area for the duration of the call, and `arg` is the
    // `Allocator` that `allocator()` lends to this walk alone.
    let (area, sum) = unsafe { (&*area, &mut *(arg as *mut Allocator)) };
    sum.allocated += (area.used * area.block_size) as u64;
    sum.active += area.committed as u64;
    true
}

/// Walks mimalloc's main heap (every thread's pages: ~40 µs for 250 MB of small values). Other
/// threads keep allocating meanwhile: a page's counts may be a moment old, which a figure for
/// INFO tolerates. Page metadata lives in mimalloc's arenas, which stay mapped for the life of
/// the process, so a page freed during the walk still reads as memory. Every reading raises
/// the peak.
pub fn allocator() -> Allocator {
    let mut sum = Allocator::default();
    let mut commit = 0usize;
    // SAFETY: mi_heap_main returns the process's main heap (never freed); the visitor only
    // reads the area it is given and writes `sum`, which outlives the call. mi_process_info
    // writes the integers it is given pointers to (null ones are skipped).
    unsafe {
        mi_heap_visit_blocks(
            mi_heap_main(),
            false,
            add_area,
            &mut sum as *mut Allocator as *mut c_void,
        );
        let null = std::ptr::null_mut();
        mi_process_info(null, null, null, null, null, &mut commit, null, null);
    }
    sum.resident = commit as u64;
    PEAK.fetch_max(sum.allocated, Relaxed);
    sum
}

/// Folds the blocks other threads freed into the calling thread's pages: mimalloc counts such
/// a block in use until its owner collects it, so with several threads a walk reads a few
/// KB more than is held (forwarded commands and replies are freed on the other thread).
/// Visits this thread's pages: run where a reading must be close, not per command.
pub fn collect_thread() {
    // SAFETY: mi_collect takes a flag and works on the calling thread's own heap.
    unsafe { mi_collect(false) }
}

/// Bytes the allocator holds for a buffer of `capacity` bytes at `ptr`: mimalloc rounds a
/// large block up (a 12 MB buffer can hold half a megabyte more), and the walk counts it
/// whole. `capacity` where mimalloc did not allocate it (the unit tests' allocator).
pub fn held(ptr: *const u8, capacity: usize) -> u64 {
    if capacity == 0 {
        return 0;
    }
    // SAFETY: mi_is_in_heap_region only compares the address with mimalloc's regions; a
    // pointer inside them is a live block of a buffer the caller holds (it lends `ptr` for
    // the call), which mi_usable_size reads the page header of.
    let usable = unsafe {
        if mi_is_in_heap_region(ptr as *const c_void) {
            mi_usable_size(ptr as *const c_void)
        } else {
            capacity
        }
    };
    usable.max(capacity) as u64
}

/// The highest `used_memory` seen (Redis's `stat_peak_memory`), raised by every reading.
static PEAK: AtomicU64 = AtomicU64::new(0);
/// `used_memory` once the server had started (Redis's `used_memory_startup`).
static STARTUP: AtomicU64 = AtomicU64::new(0);

/// Allocated bytes now (raising the peak).
pub fn used_memory() -> u64 {
    allocator().allocated
}

/// The peak of `used_memory` (thread 0's maintenance tick reads it once a second, and every
/// INFO and scrape).
pub fn peak_memory() -> u64 {
    PEAK.load(Relaxed)
}

/// Notes the memory the server holds with no data and no clients.
pub fn note_startup_memory() {
    STARTUP.store(used_memory(), Relaxed);
}

pub fn startup_memory() -> u64 {
    STARTUP.load(Relaxed)
}

/// The resident set, from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

fn page_size() -> u64 {
    // SAFETY: sysconf reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 {
        size as u64
    } else {
        4096
    }
}

/// Physical memory of the machine (Redis's `total_system_memory`).
pub fn total_system_memory() -> u64 {
    // SAFETY: sysconf reads a system constant.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    (pages.max(0) as u64) * page_size()
}

/// INFO's `mem_allocator`: the allocator src/main.rs installs, mimalloc, with the version the
/// linked library reports (`mimalloc-3.3.2`, as Redis says `jemalloc-5.3.0`).
pub fn allocator_name() -> String {
    // SAFETY: mi_version takes no arguments, touches no memory of ours and returns a
    // constant; the mimalloc crate links the library that defines it.
    let v = unsafe { mi_version() };
    format!("mimalloc-{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout};

    #[test]
    fn held_is_the_usable_size_of_a_mimalloc_block_and_the_capacity_elsewhere() {
        // A large block from mimalloc: its usable size, at least what was asked.
        let layout = Layout::from_size_align(3 << 20, 8).unwrap();
        // SAFETY: a non-zero layout; freed below with the same layout.
        let block = unsafe { mimalloc::MiMalloc.alloc(layout) };
        assert!(!block.is_null());
        let usable = held(block, layout.size());
        // SAFETY: the block came from MiMalloc.alloc with this layout.
        unsafe { mimalloc::MiMalloc.dealloc(block, layout) };
        assert!(usable >= layout.size() as u64);
        // The test binary's own allocator: not mimalloc's, so the capacity.
        let buffer: Vec<u8> = Vec::with_capacity(5000);
        assert_eq!(held(buffer.as_ptr(), buffer.capacity()), 5000);
        assert_eq!(held(std::ptr::null(), 0), 0);
    }

    #[test]
    fn allocated_bytes_follow_allocations() {
        // The test binary's global allocator is another one: mimalloc serves these alone.
        let layout = Layout::from_size_align(1000, 8).unwrap();
        let before = allocator().allocated;
        // SAFETY: a non-zero layout; every block is freed below with the same layout.
        let blocks: Vec<*mut u8> = (0..10_000)
            .map(|_| unsafe { mimalloc::MiMalloc.alloc(layout) })
            .collect();
        assert!(blocks.iter().all(|b| !b.is_null()));
        let used = used_memory();
        let during = allocator();
        assert!(used >= before + 10_000_000, "{before} -> {used}");
        assert!(during.active >= during.allocated);
        assert!(during.resident >= during.allocated);
        assert!(peak_memory() >= used);
        for b in blocks {
            // SAFETY: allocated above by the same allocator with this layout.
            unsafe { mimalloc::MiMalloc.dealloc(b, layout) };
        }
        assert!(allocator().allocated + 10_000_000 <= used);
        assert!(rss_bytes() > 0 && total_system_memory() > rss_bytes());
    }
}
