//! Argument parsers: clap's `value_parser`s, so commands receive typed, validated values.

use std::time::Duration;

use ferry_shared::model::{ComponentName, EnvironmentName, Version, VersionSpec};

pub fn component(s: &str) -> Result<ComponentName, String> {
    ComponentName::parse(s).map_err(|e| e.to_string())
}

pub fn environment(s: &str) -> Result<EnvironmentName, String> {
    EnvironmentName::parse(s.trim()).map_err(|e| e.to_string())
}

pub fn version(s: &str) -> Result<Version, String> {
    Version::parse(s).map_err(|e| e.to_string())
}

/// A version to deploy: an exact one, or `latest`.
pub fn version_spec(s: &str) -> Result<VersionSpec, String> {
    VersionSpec::parse(s).map_err(|e| e.to_string())
}

/// A decision's comment, within what a decision keeps.
pub fn comment(s: &str) -> Result<String, String> {
    let max = ferry_shared::model::MAX_COMMENT_BYTES;
    if s.len() > max {
        return Err(format!("the comment is {} bytes; at most {max}", s.len()));
    }
    Ok(s.to_owned())
}

/// The longest approval timeout or wait: a Step Functions standard execution lasts at most a
/// year, so nothing Ferry waits for can take longer.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// A positive duration: "90s", "15m", "24h", "2d", "1h 30m" (humantime) or plain seconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let d = match s.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(s)
            .map_err(|e| format!("invalid duration {s:?} ({e}): use e.g. 90s, 15m, 24h, 2d"))?,
    };
    if d.is_zero() {
        return Err("a duration must be positive".into());
    }
    if d > MAX_DURATION {
        return Err(format!(
            "{s} is longer than a year, the longest a Step Functions execution runs"
        ));
    }
    Ok(d)
}

/// A moment: RFC 3339 (`2026-12-01T00:00:00Z`), the same without seconds
/// (`2026-12-01T00:00Z`), or a duration from now (`4h`, `2d`).
pub fn moment(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%MZ") {
        return Ok(t.and_utc());
    }
    let d = duration(s).map_err(|_| {
        format!("invalid time {s:?}: use e.g. 2026-12-01T00:00Z, 2026-12-01T00:00:00+01:00 or 4h")
    })?;
    let d = chrono::Duration::from_std(d).map_err(|e| e.to_string())?;
    chrono::Utc::now()
        .checked_add_signed(d)
        .ok_or_else(|| format!("{s} from now is out of range"))
}

/// An age for people: "42s", "5m 12s", "3h 4m", "2d 1h".
pub fn format_age(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        s => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

/// Seconds for people: the largest whole unit.
pub fn format_secs(s: u64) -> String {
    match s {
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_moments() {
        assert_eq!(format_age(42), "42s");
        assert_eq!(format_age(312), "5m 12s");
        assert_eq!(format_age(3 * 3600 + 240), "3h 4m");
        assert_eq!(format_age(2 * 86400 + 3600), "2d 1h");
        assert_eq!(
            moment("2026-12-01T00:00Z").unwrap().to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        assert_eq!(
            moment("2026-12-01T01:00:00+01:00").unwrap().to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        let in_4h = moment("4h").unwrap() - chrono::Utc::now();
        assert!((14_390..=14_400).contains(&in_4h.num_seconds()), "{in_4h}");
        assert!(moment("tomorrow-ish").is_err());
    }

    #[test]
    fn durations() {
        let secs = |s| duration(s).map(|d| d.as_secs());
        assert_eq!(secs("24h").unwrap(), 86400);
        assert_eq!(secs("90s").unwrap(), 90);
        assert_eq!(secs("15m").unwrap(), 900);
        assert_eq!(secs("2d").unwrap(), 172800);
        assert_eq!(secs("30").unwrap(), 30);
        assert_eq!(secs("1h 30m").unwrap(), 5400);
        assert!(duration("0s").is_err());
        assert!(duration("0").is_err());
        assert!(duration("soon").is_err());
        assert!(duration("366d").unwrap_err().contains("longer than a year"));
        assert!(duration("99999999999999999999d").is_err());
        assert!(duration("18446744073709551615").is_err());
        assert_eq!(secs("365d").unwrap(), 365 * 86400);
        assert_eq!(format_secs(86400), "1d");
        assert_eq!(format_secs(90), "90s");
    }

    #[test]
    fn versions_and_names() {
        assert_eq!(version_spec("latest").unwrap(), VersionSpec::Latest);
        assert!(matches!(
            version_spec("1.2.3").unwrap(),
            VersionSpec::Exact(_)
        ));
        assert!(version_spec("1.2").is_err());
        assert!(component("Web")
            .unwrap_err()
            .contains("invalid component name"));
        assert_eq!(environment(" prod ").unwrap().as_str(), "prod");
    }
}
