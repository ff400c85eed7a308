//! What the server adds to each valid event: the receive time, the timestamp corrected for the
//! client's clock skew, and the caller as the policy keeps it (user agent, IP).

use crate::config::IpPolicy;
use crate::record::event::{EventFields, ServerFields};
use crate::timestamp::{parse_rfc3339, EpochMillis};

/// What the server knows about the request an event came in.
#[derive(Debug, Clone)]
pub struct RequestContext<'a> {
    pub received_at: EpochMillis,
    pub sent_at: EpochMillis,
    /// `sent_at` exactly as the client wrote it.
    pub sent_at_raw: &'a str,
    /// The caller's address after the IP policy was applied.
    pub ip: Option<String>,
    pub user_agent: Option<&'a str>,
    pub max_event_age_ms: i64,
}

impl RequestContext<'_> {
    /// The server fields of one valid event of the request.
    pub fn server_fields(&self, event: &impl EventFields) -> ServerFields<'_> {
        let client_ts = parse_rfc3339(event.client_timestamp()).unwrap_or(self.received_at);
        ServerFields {
            received_at: self.received_at,
            timestamp: corrected_timestamp(client_ts, self),
            sent_at_raw: self.sent_at_raw,
            user_agent: self.user_agent,
            ip: self.ip.as_deref(),
        }
    }
}

/// `received_at - (sent_at - timestamp)`, clamped to `[received_at - max_age, received_at]`:
/// the client's clock may be wrong, but the time between the event and the send is not.
pub fn corrected_timestamp(client_ts: EpochMillis, ctx: &RequestContext<'_>) -> EpochMillis {
    let corrected = ctx
        .received_at
        .saturating_sub(ctx.sent_at.saturating_sub(client_ts));
    corrected.clamp(ctx.received_at - ctx.max_event_age_ms, ctx.received_at)
}

/// Applies the IP policy to the caller's address.
pub fn apply_ip_policy(ip: Option<&str>, policy: IpPolicy) -> Option<String> {
    let ip = ip?;
    match policy {
        IpPolicy::Drop => None,
        IpPolicy::Keep => Some(ip.to_string()),
        IpPolicy::Truncate => match ip.parse::<std::net::IpAddr>().ok()? {
            std::net::IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                Some(std::net::Ipv4Addr::new(a, b, c, 0).to_string())
            }
            std::net::IpAddr::V6(v6) => {
                let s = v6.segments();
                Some(std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::event::write;
    use crate::test_fixtures::{request as ctx, valid_event};
    use serde_json::{json, Value};

    #[test]
    fn skew_correction_keeps_the_gap_between_event_and_send() {
        // The client clock is 1 h 2 min fast; the event happened 170 ms before the send.
        let c = ctx("2026-11-28T13:28:22.000Z", "2026-11-28T14:30:22.120Z");
        let ts = parse_rfc3339("2026-11-28T14:30:21.950Z").unwrap();
        assert_eq!(
            corrected_timestamp(ts, &c),
            parse_rfc3339("2026-11-28T13:28:21.830Z").unwrap()
        );
    }

    #[test]
    fn skew_correction_is_clamped_to_received_at_and_max_age() {
        let c = ctx("2026-11-28T12:00:00.000Z", "2026-11-28T12:00:00.000Z");
        let future = parse_rfc3339("2026-11-29T12:00:00.000Z").unwrap();
        assert_eq!(corrected_timestamp(future, &c), c.received_at);
        let ancient = parse_rfc3339("2001-01-01T00:00:00.000Z").unwrap();
        assert_eq!(
            corrected_timestamp(ancient, &c),
            c.received_at - 30 * 86_400_000
        );
    }

    #[test]
    fn ip_policy_drops_truncates_or_keeps() {
        assert_eq!(apply_ip_policy(Some("203.0.113.77"), IpPolicy::Drop), None);
        assert_eq!(
            apply_ip_policy(Some("203.0.113.77"), IpPolicy::Truncate).as_deref(),
            Some("203.0.113.0")
        );
        assert_eq!(
            apply_ip_policy(Some("2001:db8:abcd:12:1:2:3:4"), IpPolicy::Truncate).as_deref(),
            Some("2001:db8:abcd::")
        );
        assert_eq!(
            apply_ip_policy(Some("203.0.113.77"), IpPolicy::Keep).as_deref(),
            Some("203.0.113.77")
        );
    }

    #[test]
    fn stored_record_has_server_fields_and_corrected_timestamp() {
        let mut v = valid_event();
        v["ip"] = json!("6.6.6.6");
        let c = RequestContext {
            ip: Some("203.0.113.0".into()),
            user_agent: Some("UA/1"),
            ..ctx("2026-11-28T14:30:23.000Z", "2026-11-28T14:30:22.000Z")
        };
        let mut out = Vec::new();
        let event = v.as_object().unwrap();
        write(&mut out, event, &c.server_fields(event));
        let rec: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(rec["timestamp"], "2026-11-28T14:30:22.950Z");
        assert_eq!(rec["client_timestamp"], "2026-11-28T14:30:21.950Z");
        assert_eq!(rec["received_at"], "2026-11-28T14:30:23.000Z");
        assert_eq!(rec["sent_at"], "2026-11-28T14:30:22.000Z");
        assert_eq!(rec["ip"], "203.0.113.0");
        assert_eq!(rec["user_agent"], "UA/1");
        assert_eq!(rec["user_id"], Value::Null);
        assert_eq!(rec["properties"], json!({"path": "/"}));
    }
}
