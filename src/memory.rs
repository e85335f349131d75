//! Handing back memory a finished pass no longer uses: freed heap that
//! the allocator keeps, and the pages of git's pack files a pass read.
//! The ground floor, like `trace`: imports nothing of nexo.
//!
//! A command that walks 100,000 runs frees tens of megabytes between its
//! phases; glibc's allocator keeps freed pages for later, so each phase's
//! peak would stack on the memory the phase before it freed.
//!
//! gix reads objects from a pack through a mapping of the whole file.
//! Every page an object lookup touches then stays counted against the
//! process until it exits: walking HEAD's `.nexo` tree at 100,000 runs in
//! a repository `git gc` has packed touches most of an 82 MB pack, and
//! `doctor` peaked at 74 MB for it where the same walk over loose objects
//! stays at 21 MB. The pages are the page cache's, not the process's: a
//! pass that has moved on hands them back, and a later read maps them
//! again from the cache.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Object reads between two hand-backs: one costs a read of
/// `/proc/self/maps` and one `madvise` a pack.
const EVERY: usize = 256;

/// Notes one object read by a long pass (a tree walk): every `EVERY`
/// of them, in any thread, the packs' pages are handed back.
pub fn read_one() {
    static READS: AtomicUsize = AtomicUsize::new(0);
    if READS.fetch_add(1, Ordering::Relaxed) % EVERY == EVERY - 1 {
        release();
    }
}

/// Between two phases of a long command: gives the allocator's free
/// pages back to the system, and drops the pages of packs read so far.
pub fn phase_done() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of glibc's own heap to
    // the system; it touches no allocation in use.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
    release();
}

/// Drops this process's pages of every pack file it has mapped.
#[cfg(target_os = "linux")]
pub fn release() {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for line in maps.lines() {
        // `start-end perms offset dev inode path`
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some(path) = fields.nth(3) else { continue };
        let is_pack =
            path.contains("/objects/pack/") && (path.ends_with(".pack") || path.ends_with(".idx"));
        if !is_pack || !perms.starts_with("r-") {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        // SAFETY: the range is a whole mapping the kernel lists as a
        // read-only (`r-`) mapping of a pack file; gix maps packs
        // read-only and private (`map_copy_read_only`), so no page of it
        // was ever written. MADV_DONTNEED on such a mapping only drops
        // this process's page-table entries: the next read faults the same
        // bytes in from the file (packs are never changed in place; a
        // replaced one stays readable while mapped). A slice gix holds into
        // it reads the same bytes afterwards. An error is a missed saving.
        // One assumption: no other thread unmaps a pack between the read
        // of the maps and this call (memory mapped there anew would be
        // zeroed). nexo's other threads (doctor's record checks, the
        // index checksum) read no git objects, so the thread calling this
        // is the only one that could.
        #[allow(unsafe_code)]
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn release() {}
