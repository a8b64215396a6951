//! Keeping the allocator's memory bounded.
//!
//! glibc's malloc gives every thread that contends for it an arena of its own, up to eight per
//! core, and raises its mmap threshold each time a large block is freed, so that later large
//! blocks come from those arenas and stay resident. A backup allocates and frees blocks of up
//! to a pack (16 MiB) on many threads for as long as exports stream in: measured with the
//! backup benchmark, its peak resident memory then grew with the size of the largest app
//! (267 MiB with a 2 GiB app, 358 MiB with a 4 GiB one). Two arenas keep it at 147 and 178 MiB
//! for about 5% more CPU time (`cargo bench -p qcb-backup --bench backup`; README).

/// Limits glibc's malloc to two arenas. Call it first thing in `main`, before any thread
/// starts; elsewhere than glibc on Linux it does nothing.
pub fn bound_allocator_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of the allocator; M_ARENA_MAX is one glibc
    // documents, and a refusal (return value 0) leaves the default in place.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
