//! A hash directory's `commit.yaml`: rows or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(rows) = promoter::trunk::commit_yaml::parse(text) {
            for r in rows {
                let _ = (r.repo_dir(), r.purged());
            }
        }
    }
});
