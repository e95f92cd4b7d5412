//! A hash directory's `delorean.repo`: sections or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(sections) = promoter::trunk::delorean_repo::parse(text) {
            for s in sections {
                let _ = s.points_at("ab/cd/abcd_12345678");
            }
        }
    }
});
