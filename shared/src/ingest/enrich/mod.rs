//! What the server adds to each valid event: the receive time, the timestamp corrected for the
//! client's clock skew, the caller as the policy keeps it (user agent, IP), and what the request
//! tells about its traffic (source, parsed user agent, bot verdict, geography), derived once per
//! request.
//!
//! - [`agent`]: the user agent parsed, and the bot rules that read it.
//! - [`geo`]: country and region of the caller's address.

pub mod agent;
pub mod geo;

use std::net::IpAddr;

use crate::config::IpPolicy;
use crate::record::event::{EventFields, ServerFields, Traffic};
use crate::timestamp::{parse_rfc3339, EpochMillis};
use agent::{AgentParser, BotReason};
use geo::GeoDb;

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
    /// The request's [`Traffic`], encoded once for all its events.
    pub traffic: Vec<u8>,
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
            traffic: &self.traffic,
        }
    }
}

/// Who sent a request, as enrichment sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    /// The source's name, when the request carried a valid key.
    pub source: Option<&'a str>,
    /// A browser sent it: its key is limited to web origins, or (without keys) it carries an
    /// `Origin` header. Only a browser's user agent describes the person; a server-side client's
    /// is the server's HTTP library, so it gets no user-agent fields and no bot rules.
    pub browser: bool,
    pub user_agent: Option<&'a str>,
    pub accept_language: Option<&'a str>,
    /// The caller's address before the IP policy.
    pub ip: Option<&'a str>,
}

/// What the traffic of a request is, from its source, user agent and address.
pub struct Enricher {
    agents: Option<&'static AgentParser>,
    geo: Option<GeoDb>,
}

impl Enricher {
    /// `agents` is `None` only when the bundled regexes failed to compile, which the function
    /// reports at cold start.
    pub fn new(agents: Option<&'static AgentParser>) -> Enricher {
        Enricher { agents, geo: None }
    }

    pub fn with_geo(mut self, geo: GeoDb) -> Enricher {
        self.geo = Some(geo);
        self
    }

    /// The request's traffic fields, encoded for the stored lines, and whether it is a bot's.
    pub fn traffic(&self, from: &Origin<'_>) -> (Vec<u8>, bool) {
        let agent = match (from.browser, self.agents) {
            (true, Some(parser)) => Some(parser.parse(from.user_agent)),
            _ => None,
        };
        let bot = agent.as_ref().and_then(|a| a.bot).or_else(|| {
            let browser_without_language =
                from.browser && from.accept_language.is_none_or(|l| l.trim().is_empty());
            browser_without_language.then_some(BotReason::NoAcceptLanguage)
        });
        let geo = match (&self.geo, from.ip) {
            (Some(db), Some(ip)) => db.lookup(ip),
            _ => geo::Geo::default(),
        };
        let traffic = Traffic {
            source: from.source,
            ua_browser: agent.as_ref().and_then(|a| a.browser.as_deref()),
            ua_browser_version: agent.as_ref().and_then(|a| a.browser_version.as_deref()),
            ua_os: agent.as_ref().and_then(|a| a.os.as_deref()),
            ua_device_type: agent.as_ref().map(|a| a.device_type.as_str()),
            is_bot: Some(bot.is_some()),
            bot_reason: bot.map(BotReason::as_str),
            geo_country: geo.country.as_deref(),
            geo_region: geo.region.as_deref(),
        };
        (traffic.encode(), bot.is_some())
    }
}

/// The caller's address from a proxy's header: `CloudFront-Viewer-Address` is `ip:port`
/// (`2001:db8:0:0:0:0:0:1:443` for IPv6, in full), `X-Forwarded-For`-style values list the client first.
pub fn client_ip(header: &str) -> Option<String> {
    let first = header.split(',').next()?.trim();
    if first.parse::<IpAddr>().is_ok() {
        return Some(first.to_string());
    }
    let (ip, port) = first.rsplit_once(':')?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    (port.parse::<u16>().is_ok() && ip.parse::<IpAddr>().is_ok()).then(|| ip.to_string())
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
    fn a_proxys_client_address_header_is_read_with_or_without_a_port() {
        assert_eq!(
            client_ip("198.51.100.10:46532").as_deref(),
            Some("198.51.100.10")
        );
        assert_eq!(client_ip("198.51.100.10").as_deref(), Some("198.51.100.10"));
        // CloudFront writes IPv6 addresses in full, so the port is the ninth group.
        assert_eq!(
            client_ip("2001:db8:0:0:0:0:0:1:443").as_deref(),
            Some("2001:db8:0:0:0:0:0:1")
        );
        assert_eq!(
            client_ip("[2001:db8::1]:443").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            client_ip("203.0.113.7, 10.0.0.1").as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(client_ip("not an address"), None);
    }

    fn enricher() -> Enricher {
        Enricher::new(agent::shared().ok())
    }

    fn traffic(from: Origin<'_>) -> Value {
        let (encoded, _) = enricher().traffic(&from);
        let mut object = b"{".to_vec();
        object.extend_from_slice(&encoded[..encoded.len() - 1]);
        object.push(b'}');
        serde_json::from_slice(&object).unwrap()
    }

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

    #[test]
    fn a_browser_request_gets_its_source_user_agent_fields_and_a_bot_verdict() {
        let t = traffic(Origin {
            source: Some("web"),
            browser: true,
            user_agent: Some(CHROME),
            accept_language: Some("de-DE,de;q=0.9"),
            ip: None,
        });
        assert_eq!(
            t,
            json!({"source": "web", "ua_browser": "Chrome", "ua_browser_version": "131",
                   "ua_os": "Windows", "ua_device_type": "desktop", "is_bot": false})
        );
    }

    #[test]
    fn a_browser_request_without_accept_language_is_a_bot() {
        let t = traffic(Origin {
            browser: true,
            user_agent: Some(CHROME),
            ..Origin::default()
        });
        assert_eq!(t["is_bot"], true);
        assert_eq!(t["bot_reason"], "no_accept_language");
    }

    #[test]
    fn a_server_side_request_gets_no_user_agent_fields_and_is_no_bot() {
        let t = traffic(Origin {
            source: Some("backend"),
            browser: false,
            user_agent: Some("python-requests/2.32.3"),
            ..Origin::default()
        });
        assert_eq!(t, json!({"source": "backend", "is_bot": false}));
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
