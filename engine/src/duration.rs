//! Durations written in definitions and parameters: `7d`, `12h`, `30m`, `45s`.

use chrono::Duration;

/// Parses `<positive integer><unit>` with unit `d`, `h`, `m` or `s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let unit = s.chars().last().ok_or_else(|| "时长不能为空".to_string())?;
    let n: i64 = s[..s.len() - unit.len_utf8()]
        .parse()
        .map_err(|_| format!("无效的时长 {s:?}：应为数字加单位，如 7d、12h、30m"))?;
    if n <= 0 {
        return Err(format!("无效的时长 {s:?}：必须大于 0"));
    }
    match unit {
        'd' => Ok(Duration::days(n)),
        'h' => Ok(Duration::hours(n)),
        'm' => Ok(Duration::minutes(n)),
        's' => Ok(Duration::seconds(n)),
        _ => Err(format!("无效的时长 {s:?}：单位只能是 d、h、m、s")),
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
        assert!(parse_duration("0d").is_err());
        assert!(parse_duration("7w").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("").is_err());
    }
}
