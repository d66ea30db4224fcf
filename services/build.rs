//! Generates the gRPC code from `proto/` without a system `protoc`: protox parses every `.proto` file
//! of the contract, tonic's generator writes the Rust, and the encoded descriptor set is kept for
//! server reflection.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../proto");
    let package = root.join("kcn/ledger/v1");
    let mut files: Vec<String> = std::fs::read_dir(&package)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".proto"))
        .map(|name| format!("kcn/ledger/v1/{name}"))
        .collect();
    files.sort();
    let fds = protox::compile(&files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("kcn_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed={}", package.display());
    for f in &files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    Ok(())
}
