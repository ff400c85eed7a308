//! The fast path of one event: the event's JSON text is read once, its envelope fields and
//! `properties` are checked against the compiled schemas as the parser reaches them, and the
//! stored record is written from what was read, with no `serde_json::Value` tree.
//!
//! It only ever says yes. Anything it does not handle (a problem of any kind, a duplicate key,
//! an escaped `event_type`, `schema_version` or `timestamp`, nesting past [`DEPTH_CAP`], an object
//! schema of more than 64 properties) makes it give up, and the caller runs the reference path
//! (`event::check_event` on a parsed `Value`), which makes every verdict, error message and JSON
//! pointer. So an event it accepts is one the reference path accepts, stored byte for byte as
//! the reference path stores it: values are written as `serde_json` writes the `Value` it would
//! have parsed (the tests compare both paths on generated events).

use std::cell::Cell;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Number, Value};

use super::enrich::RequestContext;
use crate::config::Limits;
use crate::record::event::{write, write_str, write_verbatim, EventFields, SERVER_FIELDS};
use crate::schema::{EventSchema, JsonType, Lookup, Node, Registry};

/// Nesting beyond this gives up: well inside `serde_json`'s recursion limit, so a document the
/// reference path cannot parse is never one this path accepts.
const DEPTH_CAP: usize = 32;

/// Reusable buffers of the fast path, one per batch, and the registry's [`Layout`].
#[derive(Debug)]
pub struct Scratch<'l> {
    values: Vec<u8>,
    fields: Vec<Option<Range<usize>>>,
    layout: &'l Layout,
}

impl Scratch<'_> {
    pub fn new(layout: &Layout) -> Scratch<'_> {
        Scratch {
            values: Vec::new(),
            fields: Vec::new(),
            layout,
        }
    }
}

/// Envelope indexes of the fields the read treats apart, found by name once (with the
/// registry, at cold start) instead of for every event.
#[derive(Debug)]
pub struct Layout {
    event_type: Option<usize>,
    schema_version: Option<usize>,
    timestamp: Option<usize>,
    required: Vec<usize>,
}

impl Layout {
    /// The layout of `registry`'s envelope; `read` must be given the same registry.
    pub fn new(registry: &Registry) -> Layout {
        let envelope = registry.envelope();
        let index = |name: &str| envelope.properties.iter().position(|(n, _)| n == name);
        Layout {
            event_type: index("event_type"),
            schema_version: index("schema_version"),
            timestamp: index("timestamp"),
            // A required field the envelope does not list can never be present: its index is
            // out of range, so every event gives up (and the reference path says why).
            required: envelope
                .required
                .iter()
                .map(|name| index(name).unwrap_or(usize::MAX))
                .collect(),
        }
    }

    /// Whether the envelope field `i` is read as borrowed text, and which it is.
    fn text_field(&self, i: usize) -> Option<TextField> {
        let i = Some(i);
        if i == self.event_type {
            Some(TextField::EventType)
        } else if i == self.schema_version {
            Some(TextField::SchemaVersion)
        } else if i == self.timestamp {
            Some(TextField::Timestamp)
        } else {
            None
        }
    }
}

#[derive(Clone, Copy)]
enum TextField {
    EventType,
    SchemaVersion,
    Timestamp,
}

/// The index of the property named `key`, tried first at `hint` (where the key after the last
/// one found would be): keys nearly always come in the schema's order, so one comparison
/// usually finds it.
fn find(properties: &[(String, Node)], key: &str, hint: usize) -> Option<usize> {
    if properties.get(hint).is_some_and(|(name, _)| name == key) {
        return Some(hint);
    }
    properties.iter().position(|(name, _)| name == key)
}

/// Writes the stored record of the event at the start of `text` (which may go on with the rest
/// of a batch) to `line` and answers the event's length, when the event is valid and this path
/// could tell; `None` leaves `line` in an unspecified state, for the reference path.
pub fn read(
    text: &str,
    registry: &Registry,
    limits: &Limits,
    ctx: &RequestContext<'_>,
    scratch: &mut Scratch,
    line: &mut Vec<u8>,
) -> Option<usize> {
    let envelope = registry.envelope();
    scratch.values.clear();
    scratch.fields.clear();
    scratch.fields.resize(envelope.properties.len(), None);
    let layout = scratch.layout;
    let mut read = EventRead {
        envelope,
        layout,
        next_key: 0,
        registry,
        limits,
        out: &mut scratch.values,
        fields: &mut scratch.fields,
        properties: None,
        late_properties: None,
        event_type: None,
        schema_version: None,
        timestamp: None,
        schema: None,
    };
    let mut reader = serde_json::de::StrRead::new(text);
    (&mut serde_json::Deserializer::new(&mut reader))
        .deserialize_map(&mut read)
        .ok()?;
    // Where the event ends: the reader's offset, as serde_json's own StreamDeserializer reads it
    // (the method is hidden from its docs but public and pinned by Cargo.lock; a change fails
    // the build, not a request).
    let length = serde_json::de::Read::byte_offset(&reader);
    if length > limits.max_event_bytes {
        return None;
    }
    if !layout
        .required
        .iter()
        .all(|&i| read.fields.get(i).is_some_and(Option::is_some))
    {
        return None;
    }
    let schema = read.schema?;
    if let Some(raw) = read.late_properties {
        let start = read.out.len();
        let seed = properties_seed(schema, limits, read.out);
        let mut de = serde_json::Deserializer::from_str(raw.get());
        if seed.deserialize(&mut de).is_err() {
            return None;
        }
        read.properties = Some(start..read.out.len());
    }
    // An event without `properties` is left to the reference path, which says what to fix.
    read.properties.as_ref()?;
    let fields = Fields {
        names: envelope,
        values: &read.out[..],
        ranges: read.fields,
        properties: read.properties,
        timestamp: read.timestamp.unwrap_or_default(),
        next: Cell::new(0),
    };
    write(line, &fields, &ctx.server_fields(&fields));
    Some(length)
}

/// What the read of one event found: each envelope field and `properties` as the JSON
/// `serde_json` would write for it, in `out`.
struct EventRead<'de, 'a> {
    envelope: &'a Node,
    layout: &'a Layout,
    /// Where the next envelope key is looked up first.
    next_key: usize,
    registry: &'a Registry,
    limits: &'a Limits,
    out: &'a mut Vec<u8>,
    /// Per envelope property (in the envelope's order), its range in `out`.
    fields: &'a mut [Option<Range<usize>>],
    properties: Option<Range<usize>>,
    /// `properties` that came before the event's type and version, checked once both are known.
    late_properties: Option<&'de RawValue>,
    event_type: Option<&'de str>,
    schema_version: Option<&'de str>,
    timestamp: Option<&'de str>,
    schema: Option<&'a EventSchema>,
}

/// A top-level key of an event.
enum TopKey {
    Envelope(usize),
    Properties,
    Server,
}

/// The envelope, and where its next key is looked up first.
struct TopKeySeed<'a>(&'a Node, usize);

impl<'de> DeserializeSeed<'de> for TopKeySeed<'_> {
    type Value = TopKey;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<TopKey, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for TopKeySeed<'_> {
    type Value = TopKey;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an envelope field")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<TopKey, E> {
        // Envelope fields first: nearly every key is one. The three lists are disjoint (a test
        // holds them so), so the order changes only the cost.
        if let Some(i) = find(&self.0.properties, key, self.1) {
            return Ok(TopKey::Envelope(i));
        }
        if key == "properties" {
            return Ok(TopKey::Properties);
        }
        if SERVER_FIELDS.contains(&key) {
            return Ok(TopKey::Server);
        }
        Err(give_up())
    }
}

impl<'de> Visitor<'de> for &mut EventRead<'de, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let limits = self.limits;
        let envelope = self.envelope;
        while let Some(key) = map.next_key_seed(TopKeySeed(envelope, self.next_key))? {
            match key {
                TopKey::Envelope(i) => {
                    if self.fields[i].is_some() {
                        return Err(give_up());
                    }
                    self.next_key = i + 1;
                    let node = &envelope.properties[i].1;
                    let start = self.out.len();
                    let field = self.layout.text_field(i);
                    let text = match field {
                        // Read as borrowed text: an escaped one gives up.
                        Some(_) => {
                            let s: &'de str = map.next_value()?;
                            if !string_ok(node, s, limits.max_string_length) {
                                return Err(give_up());
                            }
                            // Borrowed from the text, so it had no escape, and valid JSON holds
                            // no raw `"` or control character in a string: `serde_json` would
                            // write it as it was.
                            write_verbatim(self.out, s);
                            Some(s)
                        }
                        _ => {
                            map.next_value_seed(ValueSeed {
                                node,
                                out: &mut *self.out,
                                depth: 0,
                                max_depth: DEPTH_CAP,
                                max_keys: usize::MAX,
                                max_string: limits.max_string_length,
                            })?;
                            None
                        }
                    };
                    self.fields[i] = Some(start..self.out.len());
                    match field {
                        Some(TextField::EventType) => self.event_type = text,
                        Some(TextField::SchemaVersion) => self.schema_version = text,
                        Some(TextField::Timestamp) => self.timestamp = text,
                        None => continue,
                    }
                    if let (Some(t), Some(v)) = (self.event_type, self.schema_version) {
                        match self.registry.get(t, v) {
                            Lookup::Found(schema) => self.schema = Some(schema),
                            _ => return Err(give_up()),
                        }
                    }
                }
                TopKey::Properties => {
                    if self.properties.is_some() || self.late_properties.is_some() {
                        return Err(give_up());
                    }
                    match self.schema {
                        Some(schema) => {
                            let start = self.out.len();
                            map.next_value_seed(properties_seed(schema, limits, self.out))?;
                            self.properties = Some(start..self.out.len());
                        }
                        None => self.late_properties = Some(map.next_value()?),
                    }
                }
                // Ignored, but their strings count against the limit as the reference path's do.
                TopKey::Server => map.next_value_seed(AnySeed {
                    depth: 0,
                    max_string: limits.max_string_length,
                })?,
            }
        }
        Ok(())
    }
}

fn properties_seed<'s>(
    schema: &'s EventSchema,
    limits: &Limits,
    out: &'s mut Vec<u8>,
) -> ValueSeed<'s> {
    ValueSeed {
        node: &schema.root,
        out,
        depth: 0,
        max_depth: limits.max_depth.min(DEPTH_CAP),
        max_keys: limits.max_properties,
        max_string: limits.max_string_length,
    }
}

/// The error that makes the caller take the reference path; its text is never shown.
fn give_up<E: de::Error>() -> E {
    E::custom("fast path gives up")
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// The checks `Node::validate` makes on a string, and the event-wide string length limit.
fn string_ok(node: &Node, s: &str, max_string: usize) -> bool {
    if !node.types.contains(&JsonType::String) {
        return false;
    }
    if s.len() > max_string && s.chars().count() > max_string {
        return false;
    }
    if let Some(allowed) = &node.enumeration {
        if !allowed.iter().any(|v| v.as_str() == Some(s)) {
            return false;
        }
    }
    let mut errors = Vec::new();
    node.validate_string(s, "", &mut errors);
    errors.is_empty()
}

/// One value checked against `node` and written to `out` as `serde_json` writes its `Value`.
struct ValueSeed<'s> {
    node: &'s Node,
    out: &'s mut Vec<u8>,
    /// Containers enclosing this value, below the field the seed started at.
    depth: usize,
    max_depth: usize,
    /// Most keys this value may have, when it is an object (`properties` itself).
    max_keys: usize,
    max_string: usize,
}

impl ValueSeed<'_> {
    fn child<'c>(&'c mut self, node: &'c Node) -> ValueSeed<'c> {
        ValueSeed {
            node,
            out: &mut *self.out,
            depth: self.depth + 1,
            max_depth: self.max_depth,
            max_keys: usize::MAX,
            max_string: self.max_string,
        }
    }

    fn scalar_ok(&self, value: &Value) -> bool {
        self.node
            .enumeration
            .as_ref()
            .is_none_or(|allowed| allowed.contains(value))
    }

    fn number<E: de::Error>(self, n: Number) -> Result<(), E> {
        let is_integer = n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0);
        let typed = self.node.types.contains(&JsonType::Number)
            || (is_integer && self.node.types.contains(&JsonType::Integer));
        let value = Value::Number(n);
        if !typed || !self.scalar_ok(&value) {
            return Err(give_up());
        }
        if let Some(f) = value.as_f64() {
            let mut errors = Vec::new();
            self.node.validate_number(f, "", &mut errors);
            if !errors.is_empty() {
                return Err(give_up());
            }
        }
        write_json(self.out, &value);
        Ok(())
    }

    /// Entering an object or array: one level deeper.
    fn enter<E: de::Error>(&self, ty: JsonType) -> Result<(), E> {
        if self.depth + 1 > self.max_depth
            || !self.node.types.contains(&ty)
            || self.node.enumeration.is_some()
        {
            return Err(give_up());
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a value the schema allows")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<(), E> {
        if !self.node.types.contains(&JsonType::Boolean) || !self.scalar_ok(&Value::Bool(b)) {
            return Err(give_up());
        }
        self.out
            .extend_from_slice(if b { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<(), E> {
        self.number(Number::from(n))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<(), E> {
        self.number(Number::from(n))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<(), E> {
        match Number::from_f64(n) {
            Some(n) => self.number(n),
            None => Err(give_up()),
        }
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<(), E> {
        if !string_ok(self.node, s, self.max_string) {
            return Err(give_up());
        }
        // As the envelope's borrowed strings: nothing in it to escape.
        write_verbatim(self.out, s);
        Ok(())
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        if !string_ok(self.node, s, self.max_string) {
            return Err(give_up());
        }
        write_str(self.out, s);
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        if !self.node.types.contains(&JsonType::Null) || !self.scalar_ok(&Value::Null) {
            return Err(give_up());
        }
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.enter(JsonType::Array)?;
        let node = self.node;
        let Some(items) = node.items.as_deref() else {
            return Err(give_up());
        };
        self.out.push(b'[');
        let mut n: u64 = 0;
        loop {
            if n > 0 {
                self.out.push(b',');
            }
            if seq.next_element_seed(self.child(items))?.is_none() {
                break;
            }
            n += 1;
        }
        // The comma written before the end of the list.
        if n > 0 {
            self.out.pop();
        }
        self.out.push(b']');
        if node.min_items.is_some_and(|min| n < min) || node.max_items.is_some_and(|max| n > max) {
            return Err(give_up());
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.enter(JsonType::Object)?;
        let node = self.node;
        if node.properties.len() > 64 {
            return Err(give_up());
        }
        let mut seen: u64 = 0;
        let mut keys = 0;
        let mut next = 0;
        self.out.push(b'{');
        while let Some(i) = map.next_key_seed(PropertyKeySeed(node, next))? {
            keys += 1;
            if seen & (1 << i) != 0 || keys > self.max_keys {
                return Err(give_up());
            }
            seen |= 1 << i;
            next = i + 1;
            if keys > 1 {
                self.out.push(b',');
            }
            let (name, child) = &node.properties[i];
            write_str(self.out, name.as_str());
            self.out.push(b':');
            map.next_value_seed(self.child(child))?;
        }
        self.out.push(b'}');
        let all_required = node.required.iter().all(|name| {
            node.properties
                .iter()
                .position(|(n, _)| n == name)
                .is_some_and(|i| seen & (1 << i) != 0)
        });
        if !all_required {
            return Err(give_up());
        }
        Ok(())
    }
}

/// A key of an object: the index of the schema property it names (looked up first after the
/// one of the key before it).
struct PropertyKeySeed<'a>(&'a Node, usize);

impl<'de> DeserializeSeed<'de> for PropertyKeySeed<'_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for PropertyKeySeed<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a property the schema knows")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        find(&self.0.properties, key, self.1).ok_or_else(give_up)
    }
}

/// Any value, of which only the string lengths and the nesting are checked.
#[derive(Clone, Copy)]
struct AnySeed {
    depth: usize,
    max_string: usize,
}

impl AnySeed {
    fn child<E: de::Error>(self) -> Result<AnySeed, E> {
        if self.depth + 1 > DEPTH_CAP {
            return Err(give_up());
        }
        Ok(AnySeed {
            depth: self.depth + 1,
            max_string: self.max_string,
        })
    }
}

impl<'de> DeserializeSeed<'de> for AnySeed {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnySeed {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        if s.len() > self.max_string && s.chars().count() > self.max_string {
            return Err(give_up());
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let child = self.child::<A::Error>()?;
        while seq.next_element_seed(child)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let child = self.child::<A::Error>()?;
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(child)?;
        }
        Ok(())
    }
}

/// The fields the read found, for the record writer.
struct Fields<'a> {
    names: &'a Node,
    values: &'a [u8],
    ranges: &'a [Option<Range<usize>>],
    properties: Option<Range<usize>>,
    timestamp: &'a str,
    /// Where the next key the writer asks for is looked up first: it asks in nearly the
    /// envelope's order.
    next: Cell<usize>,
}

impl EventFields for Fields<'_> {
    fn write_value(&self, key: &str, out: &mut Vec<u8>) -> bool {
        let range = if key == "properties" {
            self.properties.as_ref()
        } else {
            find(&self.names.properties, key, self.next.get()).and_then(|i| {
                self.next.set(i + 1);
                self.ranges[i].as_ref()
            })
        };
        match range {
            Some(r) => {
                out.extend_from_slice(&self.values[r.clone()]);
                true
            }
            None => false,
        }
    }

    fn client_timestamp(&self) -> &str {
        self.timestamp
    }
}

#[cfg(test)]
mod tests {
    //! Both paths on generated events: valid ones, and ones broken in every way the generator
    //! knows (wrong types, bounds, unknown and missing keys, limits, escapes, whitespace, key
    //! order, duplicate keys, server fields). The fast path must never accept what the reference
    //! path rejects, must store exactly the reference path's bytes, and must accept every valid
    //! event it is meant to handle.

    use super::*;
    use crate::ingest::event::check_event;
    use crate::schema::Format;
    use crate::test_fixtures::request;
    use proptest::prelude::*;

    /// The reference path: parse, `check_event`, write.
    fn reference(
        text: &str,
        registry: &Registry,
        limits: &Limits,
        ctx: &RequestContext<'_>,
    ) -> Option<Vec<u8>> {
        let value: Value = serde_json::from_str(text).ok()?;
        check_event(&value, text.len(), registry, limits).ok()?;
        let Value::Object(map) = value else {
            return None;
        };
        let mut line = Vec::new();
        write(&mut line, &map, &ctx.server_fields(&map));
        Some(line)
    }

    fn fast(
        text: &str,
        registry: &Registry,
        limits: &Limits,
        ctx: &RequestContext<'_>,
    ) -> Option<Vec<u8>> {
        let mut line = Vec::new();
        let n = read(
            text,
            registry,
            limits,
            ctx,
            &mut Scratch::new(&Layout::new(registry)),
            &mut line,
        )?;
        // Only whitespace may follow, as at the end of a document `serde_json` reads, and the
        // reference path's size limit counts it.
        (text.len() <= limits.max_event_bytes
            && text.as_bytes()[n..]
                .iter()
                .all(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r')))
        .then_some(line)
    }

    /// Generates the text of one event, valid or not, from the compiled schemas.
    struct Gen<'r> {
        rng: fastrand::Rng,
        registry: &'r Registry,
        /// Set when the text has something the fast path leaves to the reference path.
        unusual: bool,
    }

    impl Gen<'_> {
        fn one_in(&mut self, n: usize) -> bool {
            self.rng.usize(..n) == 0
        }

        fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
            options[self.rng.usize(..options.len())]
        }

        fn ws(&mut self) -> &'static str {
            self.pick(&["", "", "", " ", "\n  "])
        }

        /// A string as JSON text, sometimes with escapes `serde_json` would not write.
        fn string(&mut self, s: &str) -> String {
            let text = serde_json::to_string(s).unwrap();
            if self.one_in(4) {
                text.replace('é', "\\u00e9")
                    .replace('/', "\\/")
                    .replace('a', "\\u0061")
            } else {
                text
            }
        }

        fn key(&mut self, name: &str) -> String {
            if name.contains('_') && self.one_in(10) {
                format!("\"{}\"", name.replacen('_', "\\u005f", 1))
            } else {
                format!("\"{name}\"")
            }
        }

        fn free_string(&mut self, min: u64, max: u64) -> String {
            let len = if self.one_in(10) {
                self.rng.u64(..=max.min(40) + 2)
            } else {
                self.rng.u64(min.min(16)..=max.clamp(min.min(16), 16))
            };
            let chars = ['a', 'b', 'é', ' ', '/', '"', '\\', '\t', '😀'];
            (0..len)
                .map(|_| chars[self.rng.usize(..chars.len())])
                .collect()
        }

        fn value(&mut self, node: &Node, depth: usize) -> String {
            if self.one_in(40) {
                return self
                    .pick(&["null", "true", "\"x\"", "1", "[]", "{}", "1.5", "\"\""])
                    .to_string();
            }
            match node.types[self.rng.usize(..node.types.len())] {
                JsonType::String => {
                    let s = match (&node.enumeration, node.format) {
                        (Some(values), _) if !self.one_in(5) => {
                            let v = &values[self.rng.usize(..values.len())];
                            v.as_str().unwrap_or("x").to_string()
                        }
                        (_, Some(format)) if !self.one_in(5) => match format {
                            Format::Uuid => "01936f4e-8a3c-7b2d-9f10-4c5d6e7f8a9b".into(),
                            Format::DateTime => self
                                .pick(&["2026-11-28T14:30:21.950Z", "2026-11-28T15:30:21+01:00"])
                                .into(),
                            Format::Date => "2026-11-28".into(),
                            Format::Uri => "https://shop.example/p?q=1".into(),
                            Format::Email => "a@b.example".into(),
                        },
                        _ => self.free_string(
                            node.min_length.unwrap_or(0),
                            node.max_length.unwrap_or(20),
                        ),
                    };
                    self.string(&s)
                }
                JsonType::Integer if !self.one_in(5) => self.pick(&["1", "2", "17"]).to_string(),
                JsonType::Integer => self
                    .pick(&[
                        "0",
                        "1",
                        "2",
                        "17",
                        "-1",
                        "100000",
                        "100001",
                        "9007199254740991",
                        "9007199254740992",
                        "1.0",
                        "2.5",
                        "1e2",
                        "-0",
                        "18446744073709551616",
                    ])
                    .to_string(),
                JsonType::Number => self
                    .pick(&[
                        "0", "89.9", "89.90", "8.99e1", "1E2", "-0", "0.5", "-1.5", "129.0", "3",
                    ])
                    .to_string(),
                JsonType::Boolean => self.pick(&["true", "false"]).to_string(),
                JsonType::Null => "null".to_string(),
                JsonType::Array => {
                    let items = node.items.as_deref().expect("arrays declare items");
                    let n = self.rng.usize(..3);
                    let values: Vec<String> =
                        (0..n).map(|_| self.value(items, depth + 1)).collect();
                    format!("[{}]", values.join(","))
                }
                JsonType::Object if depth > 4 => "{}".to_string(),
                JsonType::Object => {
                    let mut pairs = Vec::new();
                    for (name, child) in &node.properties {
                        let required = node.required.contains(name);
                        if !self.one_in(if required { 25 } else { 3 }) {
                            pairs.push((name.clone(), self.value(child, depth + 1)));
                        }
                    }
                    self.object(pairs)
                }
            }
        }

        /// An object of `pairs`, shuffled, sometimes with an unknown or a repeated key.
        fn object(&mut self, mut pairs: Vec<(String, String)>) -> String {
            if self.one_in(30) {
                pairs.push(("colour".into(), "\"red\"".into()));
            }
            if !pairs.is_empty() && self.one_in(20) {
                let again = pairs[self.rng.usize(..pairs.len())].clone();
                pairs.push(again);
                self.unusual = true;
            }
            self.rng.shuffle(&mut pairs);
            let fields: Vec<String> = pairs
                .iter()
                .map(|(k, v)| {
                    let (a, b, c) = (self.ws(), self.ws(), self.ws());
                    format!("{a}{}{b}:{c}{v}", self.key(k))
                })
                .collect();
            format!("{{{}{}}}", fields.join(","), self.ws())
        }

        fn event(&mut self) -> String {
            let schemas = self.registry.latest();
            let schema = schemas[self.rng.usize(..schemas.len())];
            let envelope = self.registry.envelope();
            let mut pairs = Vec::new();
            for (name, node) in &envelope.properties {
                let required = envelope.required.contains(name);
                if self.one_in(if required { 40 } else { 3 }) {
                    continue;
                }
                let value = match name.as_str() {
                    "event_type" if !self.one_in(20) => self.string(&schema.event_type),
                    "schema_version" => self
                        .pick(&[
                            "\"1-0-0\"",
                            "\"1-0-0\"",
                            "\"1-0-0\"",
                            "\"2-0-0\"",
                            "\"1-0-\\u0030\"",
                        ])
                        .into(),
                    "timestamp" if self.one_in(10) => "\"2026-11-28T14:30:21.950\\u005a\"".into(),
                    _ => self.value(node, 1),
                };
                if ["event_type", "schema_version", "timestamp"].contains(&name.as_str())
                    && value.contains('\\')
                {
                    self.unusual = true;
                }
                pairs.push((name.clone(), value));
            }
            if !self.one_in(40) {
                let properties = self.value(&schema.root, 0);
                pairs.push(("properties".into(), properties));
            }
            if self.one_in(6) {
                let server = self.pick(&["received_at", "ip", "user_agent", "sent_at"]);
                let value = self.pick(&[
                    "\"1999-01-01T00:00:00Z\"",
                    "[1, {\"a\": \"b\"}]",
                    "null",
                    "\"abcdefghijklmnopqrstuvwxyz\"",
                ]);
                pairs.push((server.into(), value.into()));
            }
            self.object(pairs)
        }
    }

    fn limits(small: bool) -> Limits {
        if small {
            Limits {
                max_event_bytes: 900,
                max_depth: 2,
                max_string_length: 40,
                max_properties: 3,
                ..Limits::default()
            }
        } else {
            Limits::default()
        }
    }

    /// Runs both paths on the event of `seed`; returns (reference accepted, fast accepted).
    fn compare(seed: u64, small: bool) -> (bool, bool) {
        let registry = Registry::embedded().unwrap();
        let limits = limits(small);
        let ctx = RequestContext {
            user_agent: Some("UA/1"),
            ip: Some("203.0.113.0".into()),
            ..request("2026-11-28T14:30:23.000Z", "2026-11-28T14:30:22.123Z")
        };
        let mut g = Gen {
            rng: fastrand::Rng::with_seed(seed),
            registry: &registry,
            unusual: false,
        };
        let text = g.event();
        let want = reference(&text, &registry, &limits, &ctx);
        let got = fast(&text, &registry, &limits, &ctx);
        if let Some(got) = &got {
            assert_eq!(
                want.as_deref().map(String::from_utf8_lossy),
                Some(String::from_utf8_lossy(got)),
                "the fast path accepted {text}"
            );
        }
        if want.is_some() && !g.unusual {
            assert!(
                got.is_some(),
                "the fast path gave up on a valid event: {text}"
            );
        }
        (want.is_some(), got.is_some())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn fast_path_accepts_exactly_what_the_reference_path_accepts_and_stores_the_same_bytes(
            seed in any::<u64>(),
            small in any::<bool>(),
        ) {
            compare(seed, small);
        }
    }

    #[test]
    fn generated_events_are_both_valid_and_invalid_often() {
        let runs: Vec<(bool, bool)> = (0..600).map(|seed| compare(seed, seed % 2 == 0)).collect();
        let valid = runs.iter().filter(|(want, _)| *want).count();
        let fast = runs.iter().filter(|(_, got)| *got).count();
        assert!(valid > 30 && valid < 570, "{valid} of 600 valid");
        assert!(fast > 25, "{fast} of 600 taken by the fast path");
    }

    #[test]
    fn no_envelope_field_is_named_properties_or_like_a_server_field() {
        // TopKeySeed looks a key up in the envelope first; a shared name would change its answer.
        let registry = Registry::embedded().unwrap();
        for (name, _) in &registry.envelope().properties {
            assert_ne!(name, "properties");
            assert!(!SERVER_FIELDS.contains(&name.as_str()), "{name}");
        }
    }

    #[test]
    fn properties_before_the_event_type_are_checked_once_the_type_is_known() {
        let registry = Registry::embedded().unwrap();
        let ctx = request("2026-11-28T14:30:23.000Z", "2026-11-28T14:30:22.123Z");
        let good = r#"{"properties":{"path":"/"},"event_id":"01936f4e-8a3c-7b2d-9f10-4c5d6e7f8a9b","event_type":"page_viewed","schema_version":"1-0-0","timestamp":"2026-11-28T14:30:21.950Z","anonymous_id":"a","session_id":"s","seq":1}"#;
        let limits = Limits::default();
        assert_eq!(
            fast(good, &registry, &limits, &ctx),
            reference(good, &registry, &limits, &ctx)
        );
        assert!(fast(good, &registry, &limits, &ctx).is_some());
        let bad = good.replace(r#""path":"/""#, r#""path":1"#);
        assert_eq!(fast(&bad, &registry, &limits, &ctx), None);
    }
}
