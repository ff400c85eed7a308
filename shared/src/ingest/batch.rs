//! A request's batch: `sent_at`, the source `key` and the texts of its events.
//!
//! [`split`] finds them in one scan of the body, so the events are parsed once (by the fast path
//! or the reference path) instead of twice: a `serde_json` parse of the batch into `RawValue`s
//! read every byte of every event before the event was read again, a sixth of ingest's time per
//! event. The scan takes only the shape clients send (`sent_at`, `key` and `events` at most once
//! each, `sent_at` and `key` strings without escapes or `null`, events that are objects, nothing
//! else); for any other body it answers `None` and [`parse`] reads it with serde, which makes
//! every error message. Its events are found by matching braces outside strings, which is the
//! event's exact text whenever that text is valid JSON; the caller parses each event and takes
//! [`parse`]'s answer for the whole body when one is not.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::{IngestError, Result};

#[derive(Debug, PartialEq, Eq)]
pub struct Batch<'a> {
    /// `sent_at` when it is a string; anything else (or nothing) is refused by the caller.
    pub sent_at: Option<Cow<'a, str>>,
    /// The source key, for `sendBeacon`, which cannot set headers.
    pub key: Option<Cow<'a, str>>,
    pub events: Vec<&'a str>,
}

#[derive(Deserialize)]
struct BatchIn<'a> {
    #[serde(borrow, default)]
    sent_at: Option<&'a RawValue>,
    #[serde(borrow, default)]
    key: Option<Cow<'a, str>>,
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

/// The batch as `serde_json` reads it, with the errors a client is shown.
pub fn parse(json: &[u8]) -> Result<Batch<'_>> {
    let batch: BatchIn<'_> = serde_json::from_slice(json).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => IngestError::NotABatch(format!(
            "{e}: send {{\"sent_at\": \"<RFC 3339>\", \"events\": [...]}}"
        )),
        _ => IngestError::MalformedJson(e),
    })?;
    Ok(Batch {
        sent_at: batch
            .sent_at
            .and_then(|raw| serde_json::from_str::<Cow<'_, str>>(raw.get()).ok()),
        key: batch.key,
        events: batch.events.iter().map(|raw| raw.get()).collect(),
    })
}

/// The batch found by one scan of a body of the usual shape; `None` for any other body.
pub fn split(json: &[u8]) -> Option<Batch<'_>> {
    let text = std::str::from_utf8(json).ok()?;
    let mut scan = Scan {
        text,
        b: text.as_bytes(),
        at: 0,
    };
    let mut batch = Batch {
        sent_at: None,
        key: None,
        events: Vec::new(),
    };
    let (mut sent_at, mut key, mut events) = (false, false, false);
    scan.expect(b'{')?;
    loop {
        let name = scan.plain_string()?;
        scan.expect(b':')?;
        let seen = match name {
            "sent_at" => &mut sent_at,
            "key" => &mut key,
            "events" => &mut events,
            _ => return None,
        };
        if std::mem::replace(seen, true) {
            return None;
        }
        match name {
            "events" => scan.events(&mut batch.events)?,
            "sent_at" => batch.sent_at = scan.string_or_null()?.map(Cow::Borrowed),
            _ => batch.key = scan.string_or_null()?.map(Cow::Borrowed),
        }
        match scan.next()? {
            b',' => {}
            b'}' => break,
            _ => return None,
        }
    }
    scan.skip_ws();
    (events && scan.at == scan.b.len()).then_some(batch)
}

struct Scan<'a> {
    text: &'a str,
    b: &'a [u8],
    at: usize,
}

impl<'a> Scan<'a> {
    fn skip_ws(&mut self) {
        while self
            .b
            .get(self.at)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, consumed.
    fn next(&mut self) -> Option<u8> {
        self.skip_ws();
        let c = *self.b.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    /// A string without escapes or control characters, as its text.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let len = self.b[start..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if self.b[start + len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        Some(&self.text[start..start + len])
    }

    fn string_or_null(&mut self) -> Option<Option<&'a str>> {
        self.skip_ws();
        if self.b[self.at..].starts_with(b"null") {
            self.at += 4;
            return Some(None);
        }
        self.plain_string().map(Some)
    }

    /// `[ {…}, {…} ]`: each event's text, from its `{` to the `}` that closes it.
    fn events(&mut self, out: &mut Vec<&'a str>) -> Option<()> {
        self.expect(b'[')?;
        self.skip_ws();
        if self.b.get(self.at) == Some(&b']') {
            self.at += 1;
            return Some(());
        }
        loop {
            self.skip_ws();
            if self.b.get(self.at) != Some(&b'{') {
                return None;
            }
            let start = self.at;
            self.object_end()?;
            out.push(&self.text[start..self.at]);
            match self.next()? {
                b',' => {}
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// Moves past the object that starts here: braces and brackets counted outside strings.
    fn object_end(&mut self) -> Option<()> {
        let mut depth = 0usize;
        while let Some(&c) = self.b.get(self.at) {
            self.at += 1;
            match c {
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(());
                    }
                }
                b'"' => self.string_end()?,
                _ => {}
            }
        }
        None
    }

    /// Moves past the closing quote of the string whose opening quote was just read.
    fn string_end(&mut self) -> Option<()> {
        loop {
            let rest = &self.b[self.at..];
            let i = rest.iter().position(|&c| c == b'"' || c == b'\\')?;
            if rest[i] == b'"' {
                self.at += i + 1;
                return Some(());
            }
            // An escape: the next byte is escaped, whatever it is.
            self.at += i + 2;
            if self.at > self.b.len() {
                return None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_serde_finds_in_a_batch_of_the_usual_shape() {
        for body in [
            r#"{"sent_at":"2026-11-28T14:30:22.123Z","events":[{"a":1},{"b":"}{]["}]}"#,
            " {\n \"events\" : [ ] , \"sent_at\" : null , \"key\" : \"dk_1\" }\n",
            r#"{"key":null,"events":[{"s":"a\"b\\","n":[{"x":[]}]}],"sent_at":"x"}"#,
            r#"{"events":[{}, {"e":"\u00e9"} ,{"k":{"l":{}}}]}"#,
        ] {
            let split = split(body.as_bytes()).unwrap_or_else(|| panic!("{body}"));
            assert_eq!(split, parse(body.as_bytes()).unwrap(), "{body}");
        }
    }

    #[test]
    fn leaves_every_other_body_to_serde() {
        for body in [
            "",
            "[]",
            r#"{"sent_at":"x"}"#,
            r#"{"events":[{"a":1}],"events":[]}"#,
            r#"{"events":[],"other":1}"#,
            r#"{"events":[1]}"#,
            r#"{"events":[{"a":1},]}"#,
            r#"{"events":[{"a":1}]"#,
            r#"{"events":[{"a":1}]} x"#,
            r#"{"events":[{"a":"unterminated}]}"#,
            r#"{"events":[{"a":1}],"sent_at":"with \" escape"}"#,
            r#"{"events":[{"a":1}],"sent_at":12}"#,
            r#"{"ev\u0065nts":[]}"#,
            "{\"events\":[],\"sent_at\":\"tab\there\"}",
        ] {
            assert_eq!(split(body.as_bytes()), None, "{body}");
        }
        assert_eq!(split(b"{\"events\":[{\"a\":\"\xff\"}]}"), None);
    }
}
