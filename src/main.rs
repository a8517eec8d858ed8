//! The provider binary: a wasmCloud host starts it; everything is in the library.
//!
//! The system allocator (glibc malloc): the bench measures 15.6 MB idle, 18.3 MB with 100
//! links and 20.3 MB after 64 concurrent callers, where mimalloc measures 28 / 35 / 35 MB.

fn main() -> anyhow::Result<()> {
    // the provider's config (`runtime`) picks the scheduler, so the runtime is built by hand
    lattice_control_provider::runtime::build()?.block_on(Box::pin(lattice_control_provider::run()))
}
