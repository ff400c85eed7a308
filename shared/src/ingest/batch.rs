//! A request's batch: `sent_at`, the source `key` and the texts of its events.
//!
//! The body is read once, so each event is parsed once (by the fast path or the reference path)
//! instead of twice: a `serde_json` parse of the batch into `RawValue`s read every byte of every
//! event before the event was read again, a sixth of ingest's time per event. [`split`] takes
//! only the shape clients send (`sent_at`, `key` and `events` at most once each, `sent_at` and
//! `key` strings without escapes or `null`, events that are objects, nothing else); for any
//! other body it answers `None` and [`parse`] reads it with serde, which makes every error
//! message.
//!
//! - When `events` is the body's last field, the events are a [`Events::Stream`]: each is found
//!   by the read that checks it (its length), or by serde when that read does not take it, and
//!   the body's end is checked after the last one. A body that turns out to be of another shape
//!   is [`Unusual`].
//! - Otherwise they are [`Events::Texts`], found by matching braces outside strings, which is
//!   the event's exact text whenever that text is valid JSON.
//!
//! Either way the caller parses each event and takes [`parse`]'s answer for the whole body when
//! one is not JSON, the stream is unusual, or the batch is refused.

use std::borrow::Cow;
use std::collections::VecDeque;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::{IngestError, Result};

#[derive(Debug, PartialEq, Eq)]
pub struct Batch<'a> {
    /// `sent_at` when it is a string; anything else (or nothing) is refused by the caller.
    pub sent_at: Option<Cow<'a, str>>,
    /// The source key, for `sendBeacon`, which cannot set headers.
    pub key: Option<Cow<'a, str>>,
    pub events: Events<'a>,
}

/// The events of a batch.
#[derive(Debug, PartialEq, Eq)]
pub enum Events<'a> {
    /// Every event's text, the next first.
    Texts(VecDeque<&'a str>),
    /// The body from its first event on, when `events` is its last field (as clients send it):
    /// each event is found by the read that checks it, so its text is not scanned first.
    Stream(EventStream<'a>),
}

/// A body that is not of the usual shape after all (found while streaming its events): the
/// caller lets serde read it.
#[derive(Debug, PartialEq, Eq)]
pub struct Unusual;

impl<'a> Events<'a> {
    /// The next event's text, and whether `read` took it. `read` is given the text from the
    /// event on and answers the length of the event it accepted; an event it does not take is
    /// measured by serde. `Ok(None)` after the last event.
    pub fn next_event(
        &mut self,
        read: impl FnOnce(&'a str) -> Option<usize>,
    ) -> Result<Option<(&'a str, bool)>, Unusual> {
        match self {
            Events::Texts(texts) => Ok(texts.pop_front().map(|text| {
                let taken = read(text) == Some(text.len());
                (text, taken)
            })),
            Events::Stream(stream) => stream.next_event(read),
        }
    }

    /// How many events are left, when that is known without reading them.
    pub fn known_count(&self) -> Option<usize> {
        match self {
            Events::Texts(texts) => Some(texts.len()),
            Events::Stream(_) => None,
        }
    }

    /// The bytes of the events left, or about (the stream's includes the body's end).
    pub fn bytes(&self) -> usize {
        match self {
            Events::Texts(texts) => texts.iter().map(|t| t.len()).sum(),
            Events::Stream(stream) => stream.scan.b.len() - stream.scan.at,
        }
    }
}

/// The events array of a body whose last field it is, read one event at a time.
#[derive(Debug, PartialEq, Eq)]
pub struct EventStream<'a> {
    scan: Scan<'a>,
    /// Events read so far; past `limit` the body goes to serde, which counts them all.
    count: usize,
    limit: usize,
    done: bool,
}

impl<'a> EventStream<'a> {
    fn next_event(
        &mut self,
        read: impl FnOnce(&'a str) -> Option<usize>,
    ) -> Result<Option<(&'a str, bool)>, Unusual> {
        if self.done {
            return Ok(None);
        }
        let scan = &mut self.scan;
        scan.skip_ws();
        if self.count == 0 && scan.b.get(scan.at) == Some(&b']') {
            scan.at += 1;
            return self.finish();
        }
        if scan.b.get(scan.at) != Some(&b'{') || self.count == self.limit {
            return Err(Unusual);
        }
        let rest = &scan.text[scan.at..];
        let (length, taken) = match read(rest) {
            Some(n) => (n, true),
            None => {
                let mut de = serde_json::Deserializer::from_str(rest);
                let raw = <&RawValue>::deserialize(&mut de).map_err(|_| Unusual)?;
                (raw.get().len(), false)
            }
        };
        let text = &rest[..length];
        scan.at += length;
        self.count += 1;
        match scan.next() {
            Some(b',') => {}
            Some(b']') => {
                self.finish()?;
            }
            _ => return Err(Unusual),
        }
        Ok(Some((text, taken)))
    }

    /// After the array's `]`: the body's `}`, then nothing but whitespace.
    fn finish(&mut self) -> Result<Option<(&'a str, bool)>, Unusual> {
        self.done = true;
        if self.scan.next() != Some(b'}') {
            return Err(Unusual);
        }
        self.scan.skip_ws();
        if self.scan.at != self.scan.b.len() {
            return Err(Unusual);
        }
        Ok(None)
    }
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
        events: Events::Texts(batch.events.iter().map(|raw| raw.get()).collect()),
    })
}

/// The batch found by one scan of a body of the usual shape; `None` for any other body. When
/// `events` is the body's last field, its events are left to be read one by one (at most
/// `limit` of them).
pub fn split(json: &[u8], limit: usize) -> Option<Batch<'_>> {
    let text = std::str::from_utf8(json).ok()?;
    let mut scan = Scan {
        text,
        b: text.as_bytes(),
        at: 0,
    };
    let mut batch = Batch {
        sent_at: None,
        key: None,
        events: Events::Texts(VecDeque::new()),
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
            "events" if ends_with_array(scan.b) => {
                scan.expect(b'[')?;
                batch.events = Events::Stream(EventStream {
                    scan,
                    count: 0,
                    limit,
                    done: false,
                });
                return Some(batch);
            }
            "events" => {
                let mut texts = VecDeque::new();
                scan.events(&mut texts)?;
                batch.events = Events::Texts(texts);
            }
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

/// The body ends with `]` and `}`: `events` is likely its last field (the stream checks it).
fn ends_with_array(b: &[u8]) -> bool {
    let mut end = b
        .iter()
        .rev()
        .filter(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r'));
    end.next() == Some(&b'}') && end.next() == Some(&b']')
}

#[derive(Debug, PartialEq, Eq)]
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
    fn events(&mut self, out: &mut VecDeque<&'a str>) -> Option<()> {
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
            out.push_back(&self.text[start..self.at]);
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

    const LIMIT: usize = 500;

    /// Every event's text, each measured by serde (a read that takes none).
    fn texts(mut events: Events<'_>) -> Result<Vec<&str>, Unusual> {
        let mut out = Vec::new();
        while let Some((text, taken)) = events.next_event(|_| None)? {
            assert!(!taken);
            out.push(text);
        }
        Ok(out)
    }

    fn same_as_serde(body: &str) {
        let split = split(body.as_bytes(), LIMIT).unwrap_or_else(|| panic!("{body}"));
        let parsed = parse(body.as_bytes()).unwrap();
        assert_eq!(
            (&split.sent_at, &split.key),
            (&parsed.sent_at, &parsed.key),
            "{body}"
        );
        assert_eq!(texts(split.events), texts(parsed.events), "{body}");
    }

    #[test]
    fn finds_what_serde_finds_in_a_batch_of_the_usual_shape() {
        for body in [
            r#"{"sent_at":"2026-11-28T14:30:22.123Z","events":[{"a":1},{"b":"}{]["}]}"#,
            " {\n \"events\" : [ ] , \"sent_at\" : null , \"key\" : \"dk_1\" }\n",
            r#"{"key":null,"events":[{"s":"a\"b\\","n":[{"x":[]}]}],"sent_at":"x"}"#,
            r#"{"events":[{}, {"e":"\u00e9"} ,{"k":{"l":{}}}]}"#,
            r#"{"sent_at":"x","key":"k","events":[{"a":[1,{"b":"]}"}]}, {}] }  "#,
            r#"{"sent_at":"x","events":[]}"#,
        ] {
            same_as_serde(body);
        }
    }

    #[test]
    fn streams_the_events_of_a_body_that_ends_with_them() {
        let body = r#"{"sent_at":"x","events":[{"a":1}, {"b":[2]}]}"#;
        let batch = split(body.as_bytes(), LIMIT).unwrap();
        assert!(matches!(batch.events, Events::Stream(_)));
        let mut events = batch.events;
        // A read that takes the first event: its length decides where the next one starts.
        let first = events.next_event(|rest| rest.find('}').map(|i| i + 1));
        assert_eq!(first, Ok(Some((r#"{"a":1}"#, true))));
        assert_eq!(
            events.next_event(|_| None),
            Ok(Some((r#"{"b":[2]}"#, false)))
        );
        assert_eq!(events.next_event(|_| None), Ok(None));
    }

    #[test]
    fn a_streamed_body_of_another_shape_is_found_out() {
        for body in [
            r#"{"sent_at":"x","events":[{"a":1}],"key":[]}"#,
            r#"{"events":[{"a":1}],"events":[]}"#,
            r#"{"sent_at":"x","events":[{"a":1},]}"#,
            r#"{"sent_at":"x","events":[{"a":1} {"b":2}]}"#,
            r#"{"sent_at":"x","events":[{"a":1}, 2]}"#,
            r#"{"sent_at":"x","events":[{"a":tru}]}"#,
            r#"{"sent_at":"x","events":[{"a":1}]}]}"#,
        ] {
            let batch = split(body.as_bytes(), LIMIT).unwrap_or_else(|| panic!("{body}"));
            assert_eq!(texts(batch.events), Err(Unusual), "{body}");
        }
        // More events than the limit: serde counts them.
        let batch = split(br#"{"sent_at":"x","events":[{},{},{}]}"#, 2).unwrap();
        assert_eq!(texts(batch.events), Err(Unusual));
    }

    #[test]
    fn leaves_every_other_body_to_serde() {
        for body in [
            "",
            "[]",
            r#"{"sent_at":"x"}"#,
            r#"{"events":[],"events":[{"a":1}],"sent_at":"x"}"#,
            r#"{"events":[],"other":1}"#,
            r#"{"events":[1],"sent_at":"x"}"#,
            r#"{"events":[{"a":1},],"sent_at":"x"}"#,
            r#"{"events":[{"a":1}]"#,
            r#"{"events":[{"a":1}]} x"#,
            r#"{"events":[{"a":"unterminated}],"sent_at":"x"}"#,
            r#"{"sent_at":"with \" escape","events":[{"a":1}]}"#,
            r#"{"sent_at":12,"events":[{"a":1}]}"#,
            r#"{"ev\u0065nts":[]}"#,
            "{\"sent_at\":\"tab\there\",\"events\":[]}",
        ] {
            assert_eq!(split(body.as_bytes(), LIMIT), None, "{body}");
        }
        assert_eq!(split(b"{\"events\":[{\"a\":\"\xff\"}]}", LIMIT), None);
    }
}
