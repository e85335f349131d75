//! Leases: the time arithmetic every claim shares, the same on every
//! machine. The fold (`fold::claim`) decides who holds a step from the
//! events alone; whether that holder's lease still protects it is a
//! question asked at a moment, answered here.
//!
//! Pure: no files, processes or git.

use chrono::{DateTime, Duration, SecondsFormat, Utc};

use crate::core::error::{Error, Result};

/// The longest lease one claim or renewal may ask for: a week. A claim is
/// a promise to be working now, not a reservation.
pub const MAX_TTL_SECONDS: u64 = 7 * 24 * 3600;

/// How long a claim lasts when neither the caller nor `.nexo/config.yaml`
/// says (`claims: {ttl: ...}`).
pub const DEFAULT_TTL_SECONDS: u64 = 30 * 60;

/// The clock skew between machines that claims allow for: a lease keeps
/// others out until `lease_until` plus this margin, on every machine and
/// in the fold alike. So a machine whose clock runs up to two minutes
/// ahead of the holder's cannot take over a lease the holder still
/// believes it has; a holder should renew well before `lease_until`.
pub const SKEW_MARGIN_SECONDS: i64 = 120;

/// How far ahead of the moment it is judged at an event may be dated:
/// clocks disagree by minutes, not more. A lease that starts further
/// ahead protects nothing yet, so a claim dated in 2100 holds nothing,
/// and once its time comes holds no longer than a claim made then;
/// `doctor` names every line dated further ahead than this.
pub const FUTURE_SKEW_SECONDS: i64 = 600;

/// `at` (RFC 3339) plus `ttl` seconds, written as nexo writes times
/// (UTC, milliseconds); `None` when `at` is not a time.
pub fn lease_end(at: &str, ttl_seconds: u64) -> Option<String> {
    let start = parse(at)?;
    let ttl = i64::try_from(ttl_seconds).ok()?;
    let end = start.checked_add_signed(Duration::try_seconds(ttl)?)?;
    Some(end.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Whether a lease from `lease_from` to `lease_until` keeps others out at
/// `now` (all RFC 3339): from its start (less [`FUTURE_SKEW_SECONDS`])
/// until its end plus the skew margin. A lease whose times are not times
/// protects nothing.
pub fn protects(lease_from: &str, lease_until: &str, now: &str) -> bool {
    match (parse(lease_from), parse(lease_until), parse(now)) {
        (Some(from), Some(end), Some(now)) => {
            from <= now + Duration::seconds(FUTURE_SKEW_SECONDS)
                && now < end + Duration::seconds(SKEW_MARGIN_SECONDS)
        }
        _ => false,
    }
}

/// Whether a lease that ends at `lease_until` had ended by `at`: past its
/// end and the skew margin. What the fold asks of a lease when an event
/// meets it (a lease that had not begun by then had not ended either).
pub fn ended(lease_until: &str, at: &str) -> bool {
    match (parse(lease_until), parse(at)) {
        (Some(end), Some(at)) => at >= end + Duration::seconds(SKEW_MARGIN_SECONDS),
        (None, _) => true,
        (Some(_), None) => false,
    }
}

/// Whether `at` is dated further ahead of `now` than clocks disagree
/// ([`FUTURE_SKEW_SECONDS`]); a time that does not parse is not.
pub fn is_ahead(at: &str, now: &str) -> bool {
    match (parse(at), parse(now)) {
        (Some(at), Some(now)) => at > now + Duration::seconds(FUTURE_SKEW_SECONDS),
        _ => false,
    }
}

/// The later of two lease ends (a renewal never shortens a lease).
pub fn later<'a>(a: &'a str, b: &'a str) -> &'a str {
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) if y > x => b,
        (None, Some(_)) => b,
        _ => a,
    }
}

/// How far ahead a step's timer may be set: ten years. A later one is
/// a typo (or a hostile value) that would hide a step for ever.
pub const MAX_TIMER_DAYS: i64 = 3653;

/// A step's timer as the caller gave it (`what` names the field or flag):
/// an RFC 3339 time, or a duration from `now` (`90s`, `2h`, `1d`); empty
/// clears it. Written as RFC 3339 UTC with milliseconds, like every time
/// nexo writes.
pub fn timer(what: &str, text: &str, now: &str) -> Result<String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(String::new());
    }
    let now = parse(now).ok_or_else(|| Error::invalid(format!("the clock reads {now}")))?;
    let refuse = |why: &'static str| {
        let (field, quoted) = (what.to_string(), crate::core::limits::quote(t).to_string());
        Error::naming(crate::core::error::ErrorKind::Invalid, move |n| {
            format!("{} {quoted} {why}", n(&field))
        })
    };
    let at = match parse(t) {
        Some(at) => at,
        None => {
            let seconds = parse_ttl(what, t).map_err(|_| {
                refuse(
                    "is neither an RFC 3339 time (2026-12-24T18:00:00Z) nor a duration from now (90s, 30m, 2h, 1d; at most 7 days)",
                )
            })?;
            now + chrono::Duration::seconds(seconds as i64)
        }
    };
    if at - now > chrono::Duration::days(MAX_TIMER_DAYS) {
        return Err(refuse(
            "is more than ten years ahead: a step that waits that long is better left out (or set the timer later)",
        ));
    }
    Ok(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

/// An RFC 3339 time, in UTC; `None` when it is not one.
pub fn parse_time(t: &str) -> Option<DateTime<Utc>> {
    parse(t)
}

fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Reads a lease length as people write it: `90s`, `30m`, `2h`, `1d`,
/// `1h30m`, or a plain number of seconds. `what` names the field or flag
/// in the caller's terms.
pub fn parse_ttl(what: &str, text: &str) -> Result<u64> {
    let bad = || {
        Error::invalid(format!(
            "{what} {} is not a duration: write e.g. 90s, 30m, 2h or 1h30m (at most {} days)",
            crate::core::limits::quote(text),
            MAX_TTL_SECONDS / 86_400
        ))
    };
    // Out of range is said in the caller's own words ("9000h"), not in
    // the seconds they were turned into.
    let in_range = |seconds: u64| {
        check_ttl(what, seconds).map_err(|_| {
            Error::invalid(format!(
                "{what} {} is out of range: {}",
                crate::core::limits::quote(text),
                lease_range()
            ))
        })
    };
    in_range(seconds_of(text).ok_or_else(bad)?)
}

/// A length of time as people write it (`90s`, `30m`, `2h`, `30d`,
/// `1h30m`, or a plain number of seconds), in seconds; `None` when it is
/// not one.
pub fn seconds_of(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Ok(seconds) = t.parse::<u64>() {
        return Some(seconds);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        number.clear();
        total = n.checked_mul(unit).and_then(|s| total.checked_add(s))?;
    }
    if !number.is_empty() || t.is_empty() {
        return None;
    }
    Some(total)
}

/// A lease length within what a claim may ask for.
pub fn check_ttl(what: &str, seconds: u64) -> Result<u64> {
    if seconds == 0 || seconds > MAX_TTL_SECONDS {
        return Err(Error::invalid(format!(
            "{what} {seconds} is out of range: {}",
            lease_range()
        )));
    }
    Ok(seconds)
}

/// How long a lease may last, in words.
fn lease_range() -> String {
    format!(
        "a lease lasts 1 second to {} days",
        MAX_TTL_SECONDS / 86_400
    )
}

/// A lease length in words: `30m`, `1h30m`, `45s`.
pub fn ttl_words(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_ends_ttl_after_its_start() {
        assert_eq!(
            lease_end("2026-12-02T10:00:00.000Z", 1800).as_deref(),
            Some("2026-12-02T10:30:00.000Z")
        );
        assert_eq!(lease_end("yesterday", 10), None);
        assert_eq!(lease_end("2026-12-02T10:00:00.000Z", u64::MAX), None);
    }

    #[test]
    fn a_lease_protects_until_its_end_plus_the_margin() {
        let (from, end) = ("2026-12-02T10:00:00.000Z", "2026-12-02T10:30:00.000Z");
        assert!(protects(from, end, "2026-12-02T10:31:59.999Z"));
        assert!(!protects(from, end, "2026-12-02T10:32:00.000Z"));
        assert!(!protects(from, "garbage", "2026-12-02T10:00:00.000Z"));
    }

    #[test]
    fn a_lease_dated_ahead_protects_nothing_until_its_time() {
        let (from, end) = ("2100-01-01T00:00:00.000Z", "2100-01-01T00:30:00.000Z");
        assert!(!protects(from, end, "2026-12-02T10:00:00.000Z"));
        assert!(
            protects(from, end, "2099-12-31T23:55:00.000Z"),
            "within the skew"
        );
        assert!(protects(from, end, "2100-01-01T00:10:00.000Z"));
        assert!(is_ahead(from, "2026-12-02T10:00:00.000Z"));
        assert!(!is_ahead(
            "2026-12-02T10:09:00.000Z",
            "2026-12-02T10:00:00.000Z"
        ));
    }

    #[test]
    fn timers_are_times_or_durations_and_never_a_decade_away() {
        let now = "2026-12-06T10:00:00.000Z";
        assert_eq!(timer("t", "2h", now).unwrap(), "2026-12-06T12:00:00.000Z");
        assert_eq!(
            timer("t", "2026-12-24T18:00:00+01:00", now).unwrap(),
            "2026-12-24T17:00:00.000Z"
        );
        assert_eq!(timer("t", " ", now).unwrap(), "");
        let far = timer("--not-before", "9999-12-31T23:59:59Z", now).unwrap_err();
        assert!(far.message.contains("ten years"), "{far}");
        let bad = timer("--not-before", "tomorrow", now).unwrap_err();
        assert!(bad.message.contains("--not-before \"tomorrow\""), "{bad}");
    }

    #[test]
    fn durations_read_as_people_write_them() {
        for (text, seconds) in [
            ("90", 90),
            ("90s", 90),
            ("30m", 1800),
            ("2h", 7200),
            ("1h30m", 5400),
            ("1d", 86_400),
        ] {
            assert_eq!(parse_ttl("--ttl", text).unwrap(), seconds, "{text}");
        }
        for text in ["", "m", "30x", "0", "8d", "1h30", "99999999999999999999d"] {
            let err = parse_ttl("--ttl", text).unwrap_err();
            assert!(err.message.starts_with("--ttl"), "{text}: {err}");
        }
        assert_eq!(ttl_words(5400), "1h30m");
        assert_eq!(ttl_words(45), "45s");
    }

    #[test]
    fn the_later_lease_wins() {
        let (a, b) = ("2026-12-02T10:00:00.000Z", "2026-12-02T11:00:00.000Z");
        assert_eq!(later(a, b), b);
        assert_eq!(later(b, a), b);
    }
}
