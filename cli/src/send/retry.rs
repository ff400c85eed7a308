//! When to send a failed batch again, as the clients decide it: the server's `Retry-After`
//! (seconds or an HTTP date, capped) when it gave one, else "full jitter" exponential backoff,
//! uniform in `[0, min(cap, base * 2^attempt))`, which spreads out senders that failed together.

use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Sends of one batch before it is given up.
    pub max_attempts: u32,
    pub base: Duration,
    /// The longest wait, `Retry-After` included: a bogus one-day value must not stall the run.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 8,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
        }
    }
}

/// Where a wait came from, for the summary and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelaySource {
    RetryAfter,
    Backoff,
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1 for the first retry).
    pub fn delay(
        &self,
        attempt: u32,
        retry_after: Option<&str>,
        now: SystemTime,
        unit_random: f64,
    ) -> (Duration, DelaySource) {
        match retry_after.and_then(|v| retry_after_delay(v, now)) {
            Some(asked) => (asked.min(self.cap), DelaySource::RetryAfter),
            None => (
                self.backoff_bound(attempt)
                    .mul_f64(unit_random.clamp(0.0, 1.0)),
                DelaySource::Backoff,
            ),
        }
    }

    /// `min(cap, base * 2^attempt)`: the backoff's upper bound for retry number `attempt`.
    pub fn backoff_bound(&self, attempt: u32) -> Duration {
        self.base
            .checked_mul(1u32 << attempt.min(31))
            .map_or(self.cap, |d| d.min(self.cap))
    }
}

/// The wait a `Retry-After` value asks for: delay-seconds or an HTTP date (a date in the past
/// means no wait); `None` when the value is neither.
pub fn retry_after_delay(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let when = parse_http_date(value)?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// RFC 9110 HTTP dates: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), and the obsolete RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`) forms recipients
/// must accept.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let fields: Vec<&str> = s.split_whitespace().collect();
    let (day, month, year, time) = match fields.as_slice() {
        [_, day, month, year, time, "GMT"] => (*day, *month, year.parse::<i64>().ok()?, *time),
        [_, date, time, "GMT"] => {
            let mut parts = date.split('-');
            let (day, month, yy) = (parts.next()?, parts.next()?, parts.next()?);
            let yy: i64 = yy.parse().ok()?;
            // RFC 9110: a two-digit year more than 50 years ahead is in the past century.
            (
                day,
                month,
                if yy < 70 { 2000 + yy } else { 1900 + yy },
                *time,
            )
        }
        [_, month, day, time, year] => (*day, *month, year.parse::<i64>().ok()?, *time),
        _ => return None,
    };
    let day: i64 = day.parse().ok()?;
    let month = 1 + [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == month)? as i64;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec;
    let secs = u64::try_from(secs).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOV_6_1994: u64 = 784_111_777;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn reads_the_three_http_date_forms() {
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(form), Some(at(NOV_6_1994)), "{form}");
        }
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 CET"), None);
        assert_eq!(parse_http_date("soon"), None);
    }

    #[test]
    fn retry_after_is_seconds_or_a_date_and_a_past_date_means_now() {
        let now = at(NOV_6_1994);
        assert_eq!(
            retry_after_delay("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            retry_after_delay("Sun, 06 Nov 1994 08:51:07 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            retry_after_delay("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after_delay("-1", now), None);
        assert_eq!(retry_after_delay("", now), None);
    }

    #[test]
    fn retry_after_is_followed_up_to_the_cap_and_without_it_backoff_applies() {
        let policy = RetryPolicy::default();
        let now = at(NOV_6_1994);
        assert_eq!(
            policy.delay(1, Some("3"), now, 0.5),
            (Duration::from_secs(3), DelaySource::RetryAfter)
        );
        assert_eq!(
            policy.delay(1, Some("86400"), now, 0.5),
            (policy.cap, DelaySource::RetryAfter)
        );
        assert_eq!(
            policy.delay(2, Some("later"), now, 0.5),
            (Duration::from_secs(1), DelaySource::Backoff)
        );
    }

    #[test]
    fn full_jitter_stays_within_its_bound() {
        let policy = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 1..=12 {
            let bound = policy.backoff_bound(attempt);
            assert_eq!(
                bound,
                (policy.base * 2u32.pow(attempt)).min(policy.cap),
                "attempt {attempt}"
            );
            let mut longest = Duration::ZERO;
            for _ in 0..500 {
                let (d, _) = policy.delay(attempt, None, SystemTime::now(), rng.f64());
                assert!(d < bound || d == Duration::ZERO, "{d:?} >= {bound:?}");
                longest = longest.max(d);
            }
            // Spread over the whole range, not a fixed fraction of it.
            assert!(
                longest > bound.mul_f64(0.9),
                "attempt {attempt}: {longest:?}"
            );
        }
        assert_eq!(policy.backoff_bound(1000), policy.cap);
    }
}
