//! Embeds every schema under `schema/` into the library, so that the ingest binary carries its
//! validator and never fetches schemas at cold start.

use std::{env, fs, path::Path};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut entries = Vec::new();
    for type_dir in fs::read_dir(&root).expect("schema/ must exist") {
        let type_dir = type_dir.expect("readable schema/ entry").path();
        if !type_dir.is_dir() {
            continue;
        }
        println!("cargo:rerun-if-changed={}", type_dir.display());
        for file in fs::read_dir(&type_dir).expect("readable schema dir") {
            let file = file.expect("readable schema file").path();
            if file.extension().and_then(|e| e.to_str()) == Some("json") {
                println!("cargo:rerun-if-changed={}", file.display());
                entries.push(file);
            }
        }
    }
    entries.sort();
    let mut out = String::from("&[\n");
    for file in &entries {
        let rel = file.strip_prefix(&root).expect("under schema/");
        let canonical = fs::canonicalize(file).expect("canonical path");
        out.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            rel.to_string_lossy(),
            canonical.to_string_lossy()
        ));
    }
    out.push_str("]\n");
    let dest = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("embedded_schemas.rs");
    fs::write(dest, out).expect("write embedded_schemas.rs");
}
