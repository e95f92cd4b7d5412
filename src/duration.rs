//! Human durations in the config and on the command line: `90s`, `30m`,
//! `3h`, `1h30m`, `2d`; a bare number is seconds.

use std::time::Duration;

/// Longest duration accepted anywhere: a year.
const MAX_SECS: u64 = 366 * 24 * 3600;

/// Parses a human duration; the error says why, for the caller to place.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if text.is_empty() {
        return Err("duration is empty".into());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return check(secs, s);
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("{s:?} is not a duration: a number must come before {unit:?}"))?;
        digits.clear();
        let mult = match unit.as_str() {
            "s" | "sec" | "secs" => 1,
            "m" | "min" | "mins" => 60,
            "h" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86400,
            "w" | "week" | "weeks" => 7 * 86400,
            _ => {
                return Err(format!(
                    "{s:?} is not a duration: unknown unit {unit:?} (use s, m, h, d or w)"
                ))
            }
        };
        total = n
            .checked_mul(mult)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("{s:?} is too long a duration"))?;
    }
    if !digits.is_empty() {
        return Err(format!(
            "{s:?} is not a duration: {digits:?} has no unit (use s, m, h, d or w)"
        ));
    }
    check(total, s)
}

fn check(secs: u64, s: &str) -> Result<Duration, String> {
    if secs == 0 {
        return Err(format!("{s:?} is not a duration: it must be longer than 0"));
    }
    if secs > MAX_SECS {
        return Err(format!("{s:?} is too long a duration: at most 366d"));
    }
    Ok(Duration::from_secs(secs))
}

/// Formats seconds the short way: `3h`, `1h30m`, `45s`, `2d4h`.
pub fn format_secs(secs: i64) -> String {
    if secs < 0 {
        return format!("-{}", format_secs(-secs));
    }
    let (d, h, m, s) = (
        secs / 86400,
        secs % 86400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let mut out = String::new();
    if d > 0 {
        out.push_str(&format!("{d}d"));
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        return out;
    }
    if h > 0 {
        out.push_str(&format!("{h}h"));
        if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        return out;
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
        if s > 0 {
            out.push_str(&format!("{s}s"));
        }
        return out;
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("90s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("3h").unwrap().as_secs(), 3 * 3600);
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("2d").unwrap().as_secs(), 2 * 86400);
        assert_eq!(parse_duration("45").unwrap().as_secs(), 45);
    }

    #[test]
    fn refuses_bad_durations() {
        for bad in [
            "",
            "0",
            "0s",
            "h",
            "3x",
            "-5m",
            "99999999999999999999h",
            "400d",
            "5 m",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn formats_the_short_way() {
        assert_eq!(format_secs(45), "45s");
        assert_eq!(format_secs(5400), "1h30m");
        assert_eq!(format_secs(2 * 86400 + 4 * 3600), "2d4h");
    }
}
