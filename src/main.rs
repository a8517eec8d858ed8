//! The provider binary: a wasmCloud host starts it; everything is in the library.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    lattice_control_provider::run().await
}
