//! The release config: a validated config or its errors, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let path = Path::new("/nonexistent/promoter.yaml");
        if let Ok(c) = promoter::config::Config::parse(path, text) {
            for p in &c.promotions {
                let _ = c.required_jobs(p);
            }
            for j in &c.jobs {
                let _ = j.instances();
            }
        }
    }
});
