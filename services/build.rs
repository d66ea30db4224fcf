//! Generates the gRPC code from `proto/` without a system `protoc`: protox parses the files, tonic's
//! generator writes the Rust, and the encoded descriptor set is kept for server reflection.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../proto");
    let files = [
        "kcn/ledger/v1/common.proto",
        "kcn/ledger/v1/events.proto",
        "kcn/ledger/v1/registry.proto",
        "kcn/ledger/v1/information_exchange.proto",
        "kcn/ledger/v1/audit.proto",
    ];
    let fds = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("kcn_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
