//! Source keys: which site or app sent a request. Each key names a source (stored on every event
//! as `source`), may be limited to the origins of the sites that embed it, and can be disabled.
//! Two keys of one source are valid at once, so a key is rotated without downtime: add the new
//! key, ship it, disable the old one, remove it.
//!
//! Keys are public (they ship in web pages): they tell sources apart and keep casual abuse out.
//! A key with origins refuses requests without an allowed `Origin`, which every browser sends on a
//! POST; a script can forge the header, which is what the rate limits are for.

use std::collections::HashMap;

use serde::Deserialize;

use super::error::IngestError;
use crate::config::ConfigError;

/// One configured key, as the JSON of the configuration lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySpec {
    key: String,
    source: String,
    #[serde(default)]
    origins: Vec<String>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// The source a valid key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    /// Allowed `Origin`s, without a trailing slash; empty allows any caller (server-side clients).
    pub origins: Vec<String>,
    pub enabled: bool,
}

impl Source {
    /// A source embedded in web pages: its requests come from browsers.
    pub fn is_browser(&self) -> bool {
        !self.origins.is_empty()
    }
}

/// Every configured key.
#[derive(Debug, Clone, Default)]
pub struct SourceKeys {
    keys: HashMap<String, Source>,
}

impl SourceKeys {
    /// Parses the configured JSON list; `var` names the setting in errors.
    pub fn parse(json: &str, var: &'static str) -> Result<SourceKeys, ConfigError> {
        let err = |message: String| ConfigError { var, message };
        let specs: Vec<KeySpec> = serde_json::from_str(json).map_err(|e| {
            err(format!(
                "{e}: expected a JSON list of {{\"key\": \"...\", \"source\": \"...\", \"origins\": [...], \"enabled\": true}}"
            ))
        })?;
        if specs.is_empty() {
            return Err(err(
                "lists no key: add one, or unset it to accept requests without keys".into(),
            ));
        }
        let mut keys = HashMap::with_capacity(specs.len());
        for spec in specs {
            let key = spec.key.trim().to_string();
            let name = spec.source.trim().to_string();
            if key.is_empty() || name.is_empty() {
                return Err(err("every key needs a non-empty key and source".into()));
            }
            let origins = spec
                .origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_string())
                .filter(|o| !o.is_empty())
                .collect();
            let source = Source {
                name,
                origins,
                enabled: spec.enabled,
            };
            if keys.insert(key.clone(), source).is_some() {
                return Err(err(format!(
                    "key {key:?} is listed twice: give each key one entry"
                )));
            }
        }
        Ok(SourceKeys { keys })
    }

    /// The source of a request's key, checked against its `Origin`.
    pub fn authorize(
        &self,
        key: Option<&str>,
        origin: Option<&str>,
    ) -> Result<&Source, IngestError> {
        let key = key
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(IngestError::MissingKey)?;
        let source = self
            .keys
            .get(key)
            .ok_or_else(|| IngestError::UnknownKey(redact(key)))?;
        if !source.enabled {
            return Err(IngestError::KeyDisabled(source.name.clone()));
        }
        if source.is_browser() {
            let allowed = origin
                .map(|o| o.trim_end_matches('/'))
                .is_some_and(|o| source.origins.iter().any(|a| a == o));
            if !allowed {
                return Err(IngestError::OriginNotAllowedForKey {
                    origin: origin.unwrap_or("(none)").to_string(),
                    source_name: source.name.clone(),
                });
            }
        }
        Ok(source)
    }

    /// Whether any enabled key allows `origin`: a CORS preflight carries no key.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.keys
            .values()
            .any(|s| s.enabled && s.origins.iter().any(|o| o == origin))
    }
}

/// The start of an unknown key, enough to recognise a typo without echoing a whole guess back.
fn redact(key: &str) -> String {
    let shown: String = key.chars().take(6).collect();
    if shown.len() < key.len() {
        format!("{shown}…")
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VAR: &str = "DRIFTLESS_SOURCE_KEYS";

    fn keys() -> SourceKeys {
        SourceKeys::parse(
            r#"[
                {"key": "dk_web_new", "source": "web", "origins": ["https://shop.example/"]},
                {"key": "dk_web_old", "source": "web", "origins": ["https://shop.example"]},
                {"key": "dk_web_gone", "source": "web", "origins": ["https://shop.example"], "enabled": false},
                {"key": "dk_backend", "source": "backend"}
            ]"#,
            VAR,
        )
        .unwrap()
    }

    #[test]
    fn a_missing_key_is_refused() {
        assert!(matches!(
            keys().authorize(None, None),
            Err(IngestError::MissingKey)
        ));
        assert!(matches!(
            keys().authorize(Some(" "), None),
            Err(IngestError::MissingKey)
        ));
    }

    #[test]
    fn an_unknown_key_is_refused_and_only_its_start_is_echoed() {
        let err = keys().authorize(Some("dk_guess_123456"), None).unwrap_err();
        assert!(
            matches!(&err, IngestError::UnknownKey(k) if k == "dk_gue…"),
            "{err:?}"
        );
    }

    #[test]
    fn a_disabled_key_is_refused_with_its_source() {
        let err = keys()
            .authorize(Some("dk_web_gone"), Some("https://shop.example"))
            .unwrap_err();
        assert!(
            matches!(&err, IngestError::KeyDisabled(s) if s == "web"),
            "{err:?}"
        );
    }

    #[test]
    fn both_keys_of_a_rotation_are_valid_for_the_same_source() {
        let k = keys();
        for key in ["dk_web_new", "dk_web_old"] {
            let s = k
                .authorize(Some(key), Some("https://shop.example"))
                .unwrap();
            assert_eq!(s.name, "web");
        }
    }

    #[test]
    fn a_browser_key_is_refused_from_another_origin_or_without_one() {
        let k = keys();
        for origin in [Some("https://evil.example"), None] {
            let err = k.authorize(Some("dk_web_new"), origin).unwrap_err();
            assert!(
                matches!(&err, IngestError::OriginNotAllowedForKey { source_name, .. } if source_name == "web"),
                "{err:?}"
            );
            assert_eq!(err.http_status(), 403);
        }
    }

    #[test]
    fn a_server_key_is_valid_from_any_caller() {
        let k = keys();
        let s = k.authorize(Some("dk_backend"), None).unwrap();
        assert_eq!(s.name, "backend");
        assert!(!s.is_browser());
    }

    #[test]
    fn preflights_are_answered_for_the_origins_of_enabled_keys() {
        let k = keys();
        assert!(k.allows_origin("https://shop.example"));
        assert!(!k.allows_origin("https://evil.example"));
    }

    #[test]
    fn configuration_mistakes_say_what_to_fix() {
        let cases = [
            ("not json", "expected a JSON list"),
            ("[]", "lists no key"),
            (
                r#"[{"key": "a", "source": ""}]"#,
                "non-empty key and source",
            ),
            (
                r#"[{"key": "a", "source": "x"}, {"key": "a", "source": "y"}]"#,
                "listed twice",
            ),
            (
                r#"[{"key": "a", "source": "x", "origin": "typo"}]"#,
                "unknown field",
            ),
        ];
        for (json, want) in cases {
            let err = SourceKeys::parse(json, VAR).unwrap_err();
            assert_eq!(err.var, VAR);
            assert!(err.message.contains(want), "{json}: {err}");
        }
    }
}
