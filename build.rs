//! Build script: tells the tests whether the Istio CRD schemas of the shared
//! folder are there. Without them, the tests that need them are reported as
//! ignored, with the reason, in `cargo test`'s summary (a test that returns
//! early would pass silently, and libtest hides a passing test's output).
//! With `MESHGEN_REQUIRE_SHARED` set (CI), they are never ignored, and fail
//! when the folder is missing. Builds nothing.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(meshgen_no_shared)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=MESHGEN_SHARED_DIR");
    println!("cargo::rerun-if-env-changed=MESHGEN_REQUIRE_SHARED");
    // The folder the tests read: MESHGEN_SHARED_DIR, or ../shared beside the repository.
    let shared = std::env::var_os("MESHGEN_SHARED_DIR").map_or_else(
        || {
            let manifest = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
            PathBuf::from(manifest).join("../shared")
        },
        PathBuf::from,
    );
    let schemas = shared.join("schemas/istio");
    if schemas.is_dir() {
        // Seen when it goes away. A missing path is not watched: cargo would
        // then rebuild the crate on every run. A folder that appears after
        // the build is seen after `touch build.rs` (the ignore reason says so).
        println!("cargo::rerun-if-changed={}", schemas.display());
    } else if std::env::var_os("MESHGEN_REQUIRE_SHARED").is_none() {
        println!("cargo::rustc-cfg=meshgen_no_shared");
    }
}
