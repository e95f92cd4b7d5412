//! What people and other machines read: the status of every label (as a
//! table, JSON, a static HTML page and Prometheus metrics). Gathering
//! reads the store and the trees; rendering is pure; files are written
//! atomically ([`crate::atomic`]).

pub mod html;
pub mod metrics;
pub mod running;
pub mod status;
pub mod updates;

/// "45s", "12m", "3h 20m", "2d 4h": how long ago, for people.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => match s % 3600 / 60 {
            0 => format!("{}h", s / 3600),
            m => format!("{}h {m}m", s / 3600),
        },
        _ => match s % 86400 / 3600 {
            0 => format!("{}d", s / 86400),
            h => format!("{}d {h}h", s / 86400),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_well() {
        let cases = [
            (-5, "0s"),
            (0, "0s"),
            (59, "59s"),
            (60, "1m"),
            (3599, "59m"),
            (3600, "1h"),
            (3600 + 20 * 60, "1h 20m"),
            (86400, "1d"),
            (2 * 86400 + 4 * 3600 + 59, "2d 4h"),
        ];
        for (s, want) in cases {
            assert_eq!(age(s), want, "{s}");
        }
    }
}
