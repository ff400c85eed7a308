//! The user agent, parsed once per distinct string: browser, operating system and device type by
//! uap-core's regexes (the ua-parser project's Rust port), and the user-agent rules of bot
//! detection, with isbot's maintained crawler list among them.
//!
//! Parsing one user agent costs 5 to 25 µs, as much as validating a whole batch of events, so the
//! verdicts are cached per string: a site's traffic repeats a few hundred user agents, and a warm
//! function answers from the cache. The cache is bounded (cleared when full), so a flood of
//! unique user agents costs parse time, never memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Deserialize;
use ua_parser::{os, user_agent};

/// uap-core's browser and OS regexes, converted from the crate's YAML by
/// `scripts/update_ua_regexes.py` (so no YAML parser runs at cold start).
const REGEXES: &str = include_str!("../../../data/uap-core-regexes.json");

/// Distinct user agents remembered before the cache starts over.
const CACHE_ENTRIES: usize = 4096;

/// Longer user agents are not parsed: real ones are under 512 bytes, and the regexes' cost grows
/// with the length.
const MAX_PARSED_LEN: usize = 1024;

/// What a device is, from its user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceType {
    Desktop,
    Mobile,
    Tablet,
    Bot,
    Other,
}

impl DeviceType {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::Desktop => "desktop",
            DeviceType::Mobile => "mobile",
            DeviceType::Tablet => "tablet",
            DeviceType::Bot => "bot",
            DeviceType::Other => "other",
        }
    }
}

/// Why a request counts as a bot: the first rule that matched, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotReason {
    /// No user agent, or only blanks.
    EmptyUserAgent,
    /// A browser driven without a screen (HeadlessChrome, PhantomJS): tests, scrapers.
    HeadlessBrowser,
    /// An HTTP tool or library (curl, python-requests, Go-http-client, ...), or a user agent
    /// without the engine token every browser sends.
    NonBrowserAgent,
    /// A known crawler: isbot's pattern list.
    CrawlerList,
    /// A browser request without `Accept-Language`, which every browser sends.
    NoAcceptLanguage,
}

impl BotReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BotReason::EmptyUserAgent => "empty_user_agent",
            BotReason::HeadlessBrowser => "headless_browser",
            BotReason::NonBrowserAgent => "non_browser_agent",
            BotReason::CrawlerList => "crawler_list",
            BotReason::NoAcceptLanguage => "no_accept_language",
        }
    }
}

/// One user agent, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub browser: Option<String>,
    /// The browser's major version.
    pub browser_version: Option<String>,
    pub os: Option<String>,
    pub device_type: DeviceType,
    /// The user-agent rules' verdict; `Accept-Language` is the request's, checked by the caller.
    pub bot: Option<BotReason>,
}

/// Tokens of browsers run without a screen.
const HEADLESS: &[&str] = &["headlesschrome", "phantomjs", "slimerjs"];

/// HTTP tools and libraries, as their user agents start (lowercase). They are checked before the
/// crawler list, which also matches some of them, because "a script" is the more useful reason.
const HTTP_LIBRARIES: &[&str] = &[
    "curl/",
    "wget/",
    "python-requests/",
    "python-urllib/",
    "python-httpx/",
    "aiohttp/",
    "go-http-client/",
    "okhttp/",
    "axios/",
    "node-fetch",
    "undici",
    "java/",
    "apache-httpclient/",
    "libwww-perl/",
    "postmanruntime/",
    "insomnia/",
    "httpie/",
    "ruby",
    "faraday",
    "guzzlehttp/",
    "dart:io",
    "reqwest/",
];

/// Every browser names its engine; a user agent without one of these is not a browser.
const ENGINES: &[&str] = &[
    "gecko",
    "applewebkit",
    "trident",
    "presto",
    "edge/",
    "goanna",
    "khtml",
];

#[derive(Deserialize)]
struct Regexes<'a> {
    #[serde(borrow)]
    user_agent_parsers: Vec<user_agent::Parser<'a>>,
    #[serde(borrow)]
    os_parsers: Vec<os::Parser<'a>>,
}

/// The process's parser, built on first use (once per cold start, about 0.1 s) and shared by
/// every request and every `Ingest` of the process.
pub fn shared() -> Result<&'static AgentParser, &'static AgentParserError> {
    static PARSER: OnceLock<Result<AgentParser, AgentParserError>> = OnceLock::new();
    PARSER.get_or_init(AgentParser::new).as_ref()
}

/// Builds the parsers once per cold start; parses and caches per user agent.
pub struct AgentParser {
    browsers: user_agent::Extractor<'static>,
    systems: os::Extractor<'static>,
    crawlers: isbot::Bots,
    cache: Mutex<HashMap<Box<str>, Arc<Agent>>>,
}

/// The bundled regexes do not compile: a broken build, found at cold start.
#[derive(Debug, thiserror::Error)]
#[error("the bundled user-agent regexes do not compile: {0}")]
pub struct AgentParserError(String);

impl AgentParser {
    pub fn new() -> Result<AgentParser, AgentParserError> {
        let regexes: Regexes<'static> =
            serde_json::from_str(REGEXES).map_err(|e| AgentParserError(e.to_string()))?;
        let browsers = user_agent::Builder::new()
            .push_all(regexes.user_agent_parsers)
            .map_err(|e| AgentParserError(e.to_string()))?
            .build()
            .map_err(|e| AgentParserError(e.to_string()))?;
        let systems = os::Builder::new()
            .push_all(regexes.os_parsers)
            .map_err(|e| AgentParserError(e.to_string()))?
            .build()
            .map_err(|e| AgentParserError(e.to_string()))?;
        Ok(AgentParser {
            browsers,
            systems,
            crawlers: isbot::Bots::default(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The parsed user agent, from the cache when it was seen before.
    pub fn parse(&self, user_agent: Option<&str>) -> Arc<Agent> {
        let ua = user_agent.unwrap_or_default().trim();
        // A poisoned lock only means another request panicked mid-insert; the map is still a
        // valid cache.
        if let Some(hit) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(ua) {
            return Arc::clone(hit);
        }
        let agent = Arc::new(self.parse_uncached(ua));
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(ua.into(), Arc::clone(&agent));
        agent
    }

    fn parse_uncached(&self, ua: &str) -> Agent {
        if ua.is_empty() {
            return Agent {
                browser: None,
                browser_version: None,
                os: None,
                device_type: DeviceType::Other,
                bot: Some(BotReason::EmptyUserAgent),
            };
        }
        let lower = ua.to_ascii_lowercase();
        let bot = if HEADLESS.iter().any(|t| lower.contains(t)) {
            Some(BotReason::HeadlessBrowser)
        } else if HTTP_LIBRARIES.iter().any(|t| lower.starts_with(t)) {
            Some(BotReason::NonBrowserAgent)
        } else if self.crawlers.is_bot(ua) {
            Some(BotReason::CrawlerList)
        } else if !ENGINES.iter().any(|t| lower.contains(t)) {
            Some(BotReason::NonBrowserAgent)
        } else {
            None
        };
        let (browser, browser_version, os) = if ua.len() <= MAX_PARSED_LEN {
            let b = self.browsers.extract(ua);
            let o = self.systems.extract(ua);
            (
                b.as_ref().map(|b| b.family.to_string()),
                b.as_ref().and_then(|b| b.major).map(str::to_string),
                o.map(|o| o.os.to_string()),
            )
        } else {
            (None, None, None)
        };
        let device_type = match bot {
            Some(_) => DeviceType::Bot,
            None => device_type(&lower, os.as_deref()),
        };
        Agent {
            browser,
            browser_version,
            os,
            device_type,
            bot,
        }
    }
}

/// Operating systems that run on desktops and laptops only.
const DESKTOP_SYSTEMS: &[&str] = &[
    "Windows",
    "Mac OS X",
    "Linux",
    "Ubuntu",
    "Fedora",
    "Debian",
    "Chrome OS",
    "FreeBSD",
    "OpenBSD",
];

/// The device type of a browser's user agent, by the tokens browsers use for it: "Mobi" for
/// phones (the rule MDN recommends), iPad or an Android without "Mobile" for tablets. An iPad
/// that asks for desktop sites (the default since iPadOS 13) says it is a Mac and counts as one.
fn device_type(lower: &str, os: Option<&str>) -> DeviceType {
    if lower.contains("ipad") || lower.contains("tablet") {
        return DeviceType::Tablet;
    }
    if lower.contains("mobi") || lower.contains("iphone") || lower.contains("ipod") {
        return DeviceType::Mobile;
    }
    match os {
        Some("Android") => DeviceType::Tablet,
        Some(os) if DESKTOP_SYSTEMS.contains(&os) => DeviceType::Desktop,
        _ => DeviceType::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser() -> &'static AgentParser {
        shared().unwrap()
    }

    /// (user agent, browser, major version, os, device type, bot rule)
    type Case = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        DeviceType,
        Option<BotReason>,
    );

    const CASES: &[Case] = &[
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
            Some("Chrome"), Some("131"), Some("Windows"), DeviceType::Desktop, None,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            Some("Mobile Safari"), Some("18"), Some("iOS"), DeviceType::Mobile, None,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
            Some("Firefox"), Some("133"), Some("Windows"), DeviceType::Desktop, None,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
            Some("Edge"), Some("131"), Some("Windows"), DeviceType::Desktop, None,
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240905.003; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36",
            Some("Chrome Mobile WebView"), Some("131"), Some("Android"), DeviceType::Mobile, None,
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
            Some("Mobile Safari"), Some("17"), Some("iOS"), DeviceType::Tablet, None,
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
            Some("Safari"), Some("18"), Some("Mac OS X"), DeviceType::Desktop, None,
        ),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            Some("Googlebot"), Some("2"), None, DeviceType::Bot, Some(BotReason::CrawlerList),
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
            Some("HeadlessChrome"), Some("131"), Some("Linux"), DeviceType::Bot, Some(BotReason::HeadlessBrowser),
        ),
        (
            "curl/8.5.0",
            Some("curl"), Some("8"), None, DeviceType::Bot, Some(BotReason::NonBrowserAgent),
        ),
        (
            "",
            None, None, None, DeviceType::Other, Some(BotReason::EmptyUserAgent),
        ),
        (
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
            Some("bingbot"), Some("2"), None, DeviceType::Bot, Some(BotReason::CrawlerList),
        ),
        (
            "ShopApp/2.3 (build 77)",
            None, None, None, DeviceType::Bot, Some(BotReason::NonBrowserAgent),
        ),
    ];

    #[test]
    fn current_browsers_crawlers_tools_and_an_empty_agent_parse_as_expected() {
        for (ua, browser, version, os, device, bot) in CASES {
            let a = parser().parse(Some(ua));
            let got = (
                a.browser.as_deref(),
                a.browser_version.as_deref(),
                a.os.as_deref(),
                a.device_type,
                a.bot,
            );
            assert_eq!(got, (*browser, *version, *os, *device, *bot), "{ua:?}");
        }
    }

    #[test]
    fn a_missing_user_agent_is_an_empty_one() {
        assert_eq!(parser().parse(None).bot, Some(BotReason::EmptyUserAgent));
        assert_eq!(
            parser().parse(Some("   ")).bot,
            Some(BotReason::EmptyUserAgent)
        );
    }

    #[test]
    fn a_repeated_user_agent_is_answered_from_the_cache() {
        let p = AgentParser::new().unwrap();
        let ua = CASES[0].0;
        let first = p.parse(Some(ua));
        let again = p.parse(Some(ua));
        assert!(Arc::ptr_eq(&first, &again));
    }

    #[test]
    fn the_cache_stays_bounded_under_unique_user_agents() {
        let p = AgentParser::new().unwrap();
        for i in 0..(CACHE_ENTRIES + 10) {
            p.parse(Some(&format!(
                "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/{i}"
            )));
        }
        assert!(p.cache.lock().unwrap().len() <= CACHE_ENTRIES);
    }

    #[test]
    fn an_overlong_user_agent_is_classified_but_not_parsed() {
        let ua = format!(
            "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 {}",
            "x".repeat(MAX_PARSED_LEN)
        );
        let a = parser().parse(Some(&ua));
        assert_eq!((a.browser.as_deref(), a.bot), (None, None));
        assert_eq!(a.device_type, DeviceType::Other);
    }
}
