//! Helpers shared by the lake's integration tests.

pub mod faults;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use driftless::config::CompactConfig;

/// A fresh directory of its own for one test's lake (`suite` and `name` say whose).
pub fn temp_root(suite: &str, name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "driftless-{suite}-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The default configuration, with scratch space inside the test's directory.
pub fn config(root: &Path) -> CompactConfig {
    CompactConfig {
        scratch_dir: root.join("scratch"),
        ..CompactConfig::default()
    }
}
