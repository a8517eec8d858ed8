//! The provider binary: a wasmCloud host starts it; everything is in the library.
//!
//! The system allocator (glibc malloc): the bench measures 15.6 MB idle, 18.3 MB with 100
//! links and 20.3 MB after 64 concurrent callers. (mimalloc was tried while the SDK's serve
//! loop leaked every finished invocation task, which looked like glibc keeping the peak heap;
//! with that leak fixed it only raised the baseline: 28 / 35 / 35 MB.)

fn main() -> anyhow::Result<()> {
    // the provider's config (`runtime`) picks the scheduler, so the runtime is built by hand
    lattice_control_provider::runtime::build()?.block_on(lattice_control_provider::run())
}
