//! `pack-par <binary> <out.par.gz>`: packs a provider binary for this platform into a signed,
//! compressed provider archive (fresh keys).

use anyhow::{bail, Result};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [binary, out] = args.as_slice() else {
        bail!("usage: pack-par <provider binary> <out.par.gz>");
    };
    lattice_control_e2e::pack_par(binary.as_ref(), out.as_ref()).await?;
    println!("{out}");
    Ok(())
}
