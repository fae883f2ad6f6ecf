//! Folders for a test's files, removed with what they hold when the test ends.

use std::path::{Path, PathBuf};

/// A folder of its own under the system's temporary directory, named after `name`
/// and this process, empty when made, and removed with everything in it when dropped
/// (also when the test fails), so that test runs leave nothing behind.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = Scratch::path_of(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Where [`Scratch::new`] makes the folder for `name`.
    pub fn path_of(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("dpsgd-{name}-{}", std::process::id()))
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
