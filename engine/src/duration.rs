//! Durations written in definitions and parameters: `7d`, `12h`, `30m`, `45s`.

use chrono::Duration;

/// The longest duration accepted anywhere (ten years): deadlines past it are typing mistakes,
/// and every `now + duration` stays far inside chrono's range.
pub const MAX_DAYS: i64 = 3650;

/// Parses `<positive integer><unit>` with unit `d`, `h`, `m` or `s`, at most [`MAX_DAYS`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let unit = s.chars().last().ok_or_else(|| "时长不能为空".to_string())?;
    let n: i64 = s[..s.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| format!("无效的时长 {s:?}：应为数字加单位，如 7d、12h、30m"))?;
    if n <= 0 {
        return Err(format!("无效的时长 {s:?}：必须大于 0"));
    }
    let d = match unit {
        'd' => Duration::try_days(n),
        'h' => Duration::try_hours(n),
        'm' => Duration::try_minutes(n),
        's' => Duration::try_seconds(n),
        _ => return Err(format!("无效的时长 {s:?}：单位只能是 d、h、m、s")),
    };
    match d {
        Some(d) if d <= Duration::days(MAX_DAYS) => Ok(d),
        _ => Err(format!("无效的时长 {s:?}：不能超过 {MAX_DAYS} 天")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_refuses_garbage() {
        assert_eq!(parse_duration("7d").unwrap(), Duration::days(7));
        assert_eq!(parse_duration("12h").unwrap(), Duration::hours(12));
        assert_eq!(parse_duration("30m").unwrap(), Duration::minutes(30));
        assert_eq!(parse_duration("3650d").unwrap(), Duration::days(3650));
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("7w").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn huge_durations_are_refused_not_panicking() {
        for s in [
            "3651d",
            "99999999999d",
            "9223372036854775807s",
            "99999999999999h",
        ] {
            let e = parse_duration(s).unwrap_err();
            assert!(e.contains("不能超过"), "{s}: {e}");
        }
    }
}
