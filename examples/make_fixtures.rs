//! Regenerate fixtures/ from the synthetic generator (never real vendor firmware):
//! `cargo run --example make_fixtures`.

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    std::fs::create_dir_all(&dir)?;
    for (name, bytes) in mtkflash::firmware::synth::fixtures() {
        std::fs::write(dir.join(name), &bytes)?;
        println!("fixtures/{name}: {} bytes", bytes.len());
    }
    Ok(())
}
