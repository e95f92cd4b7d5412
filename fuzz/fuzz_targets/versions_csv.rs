//! A hash directory's `versions.csv`: rows or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(rows) = promoter::trunk::versions_csv::parse(text) {
            for r in &rows {
                for i in 0..10 {
                    let _ = r.field(i);
                }
            }
            let _ = promoter::trunk::versions_csv::is_consistent(&rows);
        }
    }
});
