//! What the crate's integration tests share.

use std::path::PathBuf;

/// `name` in a directory of this test process's own (its process id), under the
/// system's temporary directory.
pub fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("my-model-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}
