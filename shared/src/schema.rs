//! The schema registry: every event type and SchemaVer version under `schema/`, compiled once into
//! validators that report each problem with a JSON pointer and a message that says what to fix.
//!
//! The supported subset of JSON Schema is deliberately small, so that every keyword maps onto
//! TypeScript types, DuckDB and Athena columns as well as onto the validator: `type` (one or a list),
//! `properties`, `required`, `additionalProperties: false` (mandatory on every object, so unknown
//! properties are always caught), `enum`, `minLength`, `maxLength`, `format`, `minimum`, `maximum`,
//! `exclusiveMinimum`, `exclusiveMaximum`, `items`, `minItems`, `maxItems`, plus the annotations
//! `$schema`, `$id`, `title`, `description`, `examples`.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

/// A schema file that does not compile: where, and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {pointer}: {message}")]
pub struct SchemaError {
    pub file: String,
    pub pointer: String,
    pub message: String,
}

type Result<T, E = SchemaError> = std::result::Result<T, E>;

/// Schemas compiled into the library at build time (see `build.rs`).
const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_schemas.rs"));

/// The fields around `properties` that every event carries.
const ENVELOPE: &str = include_str!("../../schema/envelope.json");

/// A SchemaVer version, `MODEL-REVISION-ADDITION`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchemaVer {
    pub model: u32,
    pub revision: u32,
    pub addition: u32,
}

impl SchemaVer {
    pub fn parse(s: &str) -> Option<SchemaVer> {
        let mut parts = s.split('-');
        let mut next = || -> Option<u32> {
            let p = parts.next()?;
            // No leading zeros and no signs, so that every version has exactly one spelling.
            if p.is_empty()
                || (p.len() > 1 && p.starts_with('0'))
                || !p.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            p.parse().ok()
        };
        let v = SchemaVer {
            model: next()?,
            revision: next()?,
            addition: next()?,
        };
        (parts.next().is_none() && v.model >= 1).then_some(v)
    }
}

impl fmt::Display for SchemaVer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.model, self.revision, self.addition)
    }
}

/// JSON types a schema node may allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum JsonType {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    Null,
}

impl JsonType {
    fn parse(s: &str) -> Option<JsonType> {
        Some(match s {
            "string" => JsonType::String,
            "integer" => JsonType::Integer,
            "number" => JsonType::Number,
            "boolean" => JsonType::Boolean,
            "object" => JsonType::Object,
            "array" => JsonType::Array,
            "null" => JsonType::Null,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::Boolean => "boolean",
            JsonType::Object => "object",
            JsonType::Array => "array",
            JsonType::Null => "null",
        }
    }

    fn matches(self, v: &Value) -> bool {
        match (self, v) {
            (JsonType::String, Value::String(_)) => true,
            (JsonType::Integer, Value::Number(n)) => {
                n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
            }
            (JsonType::Number, Value::Number(_)) => true,
            (JsonType::Boolean, Value::Bool(_)) => true,
            (JsonType::Object, Value::Object(_)) => true,
            (JsonType::Array, Value::Array(_)) => true,
            (JsonType::Null, Value::Null) => true,
            _ => false,
        }
    }
}

/// String formats the validator checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DateTime,
    Date,
    Uri,
    Email,
    Uuid,
}

impl Format {
    fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "date-time" => Format::DateTime,
            "date" => Format::Date,
            "uri" => Format::Uri,
            "email" => Format::Email,
            "uuid" => Format::Uuid,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::DateTime => "date-time",
            Format::Date => "date",
            Format::Uri => "uri",
            Format::Email => "email",
            Format::Uuid => "uuid",
        }
    }

    fn check(self, s: &str) -> bool {
        match self {
            Format::DateTime => crate::timestamp::parse_rfc3339(s).is_some(),
            Format::Date => {
                s.len() == 10
                    && crate::timestamp::parse_rfc3339(&format!("{s}T00:00:00Z")).is_some()
            }
            Format::Uri => {
                s.split_once(':').is_some_and(|(scheme, rest)| {
                    !rest.is_empty()
                        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                        && scheme
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                }) && !s.contains(char::is_whitespace)
            }
            Format::Email => {
                s.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty()
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }) && !s.contains(char::is_whitespace)
            }
            Format::Uuid => is_uuid(s),
        }
    }
}

/// `8-4-4-4-12` hexadecimal digits, any version.
fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// One compiled schema node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub types: Vec<JsonType>,
    pub description: Option<String>,
    pub enumeration: Option<Vec<Value>>,
    pub format: Option<Format>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: Option<f64>,
    pub exclusive_maximum: Option<f64>,
    /// Object properties in the order the schema lists them (the order codegen keeps).
    pub properties: Vec<(String, Node)>,
    pub required: Vec<String>,
    pub items: Option<Box<Node>>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
}

/// A problem found in a value, located by a JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// A short, readable rendering of a value for error messages.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("string {:?}…", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("string {s:?}"),
        Value::Array(a) => format!("an array of {} items", a.len()),
        Value::Object(_) => "an object".into(),
    }
}

impl Node {
    /// Appends every problem of `value` (found at `path`) to `errors`.
    pub fn validate(&self, value: &Value, path: &mut String, errors: &mut Vec<FieldError>) {
        if !self.types.iter().any(|t| t.matches(value)) {
            let expected: Vec<&str> = self.types.iter().map(|t| t.name()).collect();
            errors.push(FieldError::new(
                path.clone(),
                format!(
                    "must be {}, got {}",
                    article_list(&expected),
                    describe(value)
                ),
            ));
            return;
        }
        if let Some(allowed) = &self.enumeration {
            if !allowed.contains(value) {
                let list: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
                errors.push(FieldError::new(
                    path.clone(),
                    format!(
                        "must be one of {}, got {}",
                        list.join(", "),
                        describe(value)
                    ),
                ));
                return;
            }
        }
        match value {
            Value::String(s) => self.validate_string(s, path, errors),
            Value::Number(n) => {
                if let Some(f) = n.as_f64() {
                    self.validate_number(f, path, errors)
                }
            }
            Value::Object(map) => self.validate_object(map, path, errors),
            Value::Array(items) => self.validate_array(items, path, errors),
            Value::Bool(_) | Value::Null => {}
        }
    }

    pub(crate) fn validate_string(&self, s: &str, path: &str, errors: &mut Vec<FieldError>) {
        // A string of n bytes has from n/4 (rounded up) to n characters: they are counted only
        // when that range reaches past a bound.
        let bytes = s.len() as u64;
        if self.min_length.is_some_and(|min| bytes.div_ceil(4) < min)
            || self.max_length.is_some_and(|max| bytes > max)
        {
            let len = s.chars().count() as u64;
            if let Some(min) = self.min_length.filter(|min| len < *min) {
                errors.push(FieldError::new(
                    path,
                    format!("must be at least {min} characters long, got {len}"),
                ));
            }
            if let Some(max) = self.max_length.filter(|max| len > *max) {
                errors.push(FieldError::new(
                    path,
                    format!("must be at most {max} characters long, got {len}"),
                ));
            }
        }
        if let Some(format) = self.format.filter(|f| !f.check(s)) {
            errors.push(FieldError::new(
                path,
                format!(
                    "must be a valid {} string, got {}",
                    format.name(),
                    describe(&Value::String(s.into()))
                ),
            ));
        }
    }

    pub(crate) fn validate_number(&self, f: f64, path: &str, errors: &mut Vec<FieldError>) {
        let checks = [
            (self.minimum.filter(|m| f < *m), "at least"),
            (self.maximum.filter(|m| f > *m), "at most"),
            (self.exclusive_minimum.filter(|m| f <= *m), "greater than"),
            (self.exclusive_maximum.filter(|m| f >= *m), "less than"),
        ];
        for (bound, words) in checks {
            if let Some(bound) = bound {
                errors.push(FieldError::new(
                    path,
                    format!("must be {words} {bound}, got {f}"),
                ));
            }
        }
    }

    fn validate_object(
        &self,
        map: &Map<String, Value>,
        path: &mut String,
        errors: &mut Vec<FieldError>,
    ) {
        for name in &self.required {
            if !map.contains_key(name) {
                errors.push(FieldError::new(
                    format!("{path}/{}", escape_pointer(name)),
                    "is required but missing".to_string(),
                ));
            }
        }
        for (key, value) in map {
            let len = path.len();
            path.push('/');
            path.push_str(&escape_pointer(key));
            match self.properties.iter().find(|(name, _)| name == key) {
                Some((_, node)) => node.validate(value, path, errors),
                None => {
                    let known: Vec<&str> =
                        self.properties.iter().map(|(n, _)| n.as_str()).collect();
                    errors.push(FieldError::new(
                        path.clone(),
                        format!(
                            "is not allowed by the schema; known properties: {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
            path.truncate(len);
        }
    }

    fn validate_array(&self, items: &[Value], path: &mut String, errors: &mut Vec<FieldError>) {
        let n = items.len() as u64;
        if let Some(min) = self.min_items.filter(|min| n < *min) {
            errors.push(FieldError::new(
                path.clone(),
                format!("must have at least {min} items, got {n}"),
            ));
        }
        if let Some(max) = self.max_items.filter(|max| n > *max) {
            errors.push(FieldError::new(
                path.clone(),
                format!("must have at most {max} items, got {n}"),
            ));
        }
        if let Some(node) = &self.items {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                node.validate(item, path, errors);
                path.truncate(len);
            }
        }
    }
}

fn article_list(names: &[&str]) -> String {
    let with_article: Vec<String> = names
        .iter()
        .map(|n| match *n {
            "null" => "null".to_string(),
            n if n.starts_with(['a', 'e', 'i', 'o', 'u']) => format!("an {n}"),
            n => format!("a {n}"),
        })
        .collect();
    with_article.join(" or ")
}

/// Escapes a key for use in a JSON pointer (RFC 6901).
pub fn escape_pointer(key: &str) -> std::borrow::Cow<'_, str> {
    if key.contains(['~', '/']) {
        key.replace('~', "~0").replace('/', "~1").into()
    } else {
        key.into()
    }
}

/// One event type at one version.
#[derive(Debug, Clone)]
pub struct EventSchema {
    pub event_type: String,
    pub version: SchemaVer,
    /// Where the schema came from, for error messages (`page_viewed/1-0-0.json`).
    pub file: String,
    pub root: Node,
}

/// Every known event type and version, compiled.
#[derive(Debug, Clone)]
pub struct Registry {
    envelope: Node,
    // Fx hashing: looked up for every event, and SipHash's flood resistance buys nothing for a
    // map that is built once from our own schemas and only read (a caller's keys insert nothing).
    by_type: FxHashMap<String, BTreeMap<SchemaVer, EventSchema>>,
    /// Versions as written on the wire, for a lookup that needs no parse on the hot path.
    by_wire: FxHashMap<String, FxHashMap<String, SchemaVer>>,
}

impl Registry {
    /// The schemas compiled into this binary.
    pub fn embedded() -> Result<Registry> {
        Registry::from_sources(
            EMBEDDED
                .iter()
                .map(|(file, text)| (file.to_string(), text.to_string())),
        )
    }

    /// Reads `dir/<event_type>/<version>.json`, for tools that work on a checkout.
    pub fn from_dir(dir: &Path) -> Result<Registry> {
        let mut sources = Vec::new();
        let read_err = |path: &Path, e: std::io::Error| SchemaError {
            file: path.display().to_string(),
            pointer: String::new(),
            message: format!("cannot be read: {e}"),
        };
        let mut type_dirs: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| read_err(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        type_dirs.sort();
        for type_dir in type_dirs {
            let mut files: Vec<_> = std::fs::read_dir(&type_dir)
                .map_err(|e| read_err(&type_dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            files.sort();
            for file in files {
                let text = std::fs::read_to_string(&file).map_err(|e| read_err(&file, e))?;
                let rel = file
                    .strip_prefix(dir)
                    .unwrap_or(&file)
                    .to_string_lossy()
                    .into_owned();
                sources.push((rel, text));
            }
        }
        Registry::from_sources(sources)
    }

    /// Compiles `(relative file name, JSON text)` pairs; file names are `<event_type>/<version>.json`.
    pub fn from_sources(sources: impl IntoIterator<Item = (String, String)>) -> Result<Registry> {
        let envelope_json: Value = serde_json::from_str(ENVELOPE).map_err(|e| SchemaError {
            file: "envelope.json".into(),
            pointer: String::new(),
            message: format!("is not valid JSON: {e}"),
        })?;
        let envelope = compile_node(&envelope_json, "", &|pointer, message| SchemaError {
            file: "envelope.json".into(),
            pointer: pointer.into(),
            message,
        })?;
        let mut registry = Registry {
            envelope,
            by_type: FxHashMap::default(),
            by_wire: FxHashMap::default(),
        };
        for (file, text) in sources {
            let schema = compile_file(&file, &text)?;
            registry
                .by_wire
                .entry(schema.event_type.clone())
                .or_default()
                .insert(schema.version.to_string(), schema.version);
            registry
                .by_type
                .entry(schema.event_type.clone())
                .or_default()
                .insert(schema.version, schema);
        }
        Ok(registry)
    }

    /// The compiled `schema/envelope.json`: every field of an event except `properties`.
    pub fn envelope(&self) -> &Node {
        &self.envelope
    }

    pub fn get(&self, event_type: &str, version: &str) -> Lookup<'_> {
        let Some(versions) = self.by_type.get(event_type) else {
            return Lookup::UnknownType;
        };
        let found = self.by_wire.get(event_type).and_then(|v| v.get(version));
        match found.and_then(|v| versions.get(v)) {
            Some(schema) => Lookup::Found(schema),
            None => Lookup::UnknownVersion(versions.keys().copied().collect()),
        }
    }

    /// Event types, sorted.
    pub fn event_types(&self) -> Vec<&str> {
        let mut types: Vec<&str> = self.by_type.keys().map(String::as_str).collect();
        types.sort_unstable();
        types
    }

    /// Every version of one event type, oldest first.
    pub fn versions(&self, event_type: &str) -> impl Iterator<Item = &EventSchema> {
        self.by_type
            .get(event_type)
            .into_iter()
            .flat_map(|v| v.values())
    }

    /// The newest version of each event type, sorted by type.
    pub fn latest(&self) -> Vec<&EventSchema> {
        self.event_types()
            .into_iter()
            .filter_map(|t| self.by_type.get(t)?.values().next_back())
            .collect()
    }
}

pub enum Lookup<'a> {
    Found(&'a EventSchema),
    UnknownType,
    UnknownVersion(Vec<SchemaVer>),
}

fn compile_file(file: &str, text: &str) -> Result<EventSchema> {
    let err = |pointer: &str, message: String| SchemaError {
        file: file.to_string(),
        pointer: pointer.to_string(),
        message,
    };
    let normalized = file.replace('\\', "/");
    let (event_type, version_file) = normalized.split_once('/').ok_or_else(|| {
        err(
            "",
            "must live at schema/<event_type>/<MODEL-REVISION-ADDITION>.json".into(),
        )
    })?;
    if !is_event_type_name(event_type) {
        return Err(err(
            "",
            format!("event type {event_type:?} must be snake_case: a-z, 0-9 and _, starting with a letter, at most 64 characters"),
        ));
    }
    if event_type.ends_with("_all") {
        // The typed views of `x` are `x` and `x_all` (bots included): a type named `x_all` would
        // take the second name.
        return Err(err(
            "",
            format!("event type {event_type:?} must not end in _all: that suffix names the views that include bots"),
        ));
    }
    let version_text = version_file.strip_suffix(".json").unwrap_or(version_file);
    let version = SchemaVer::parse(version_text).ok_or_else(|| {
        err(
            "",
            format!("file name {version_file:?} must be a SchemaVer version such as 1-0-0.json"),
        )
    })?;
    let value: Value =
        serde_json::from_str(text).map_err(|e| err("", format!("is not valid JSON: {e}")))?;
    let Value::Object(obj) = &value else {
        return Err(err("", "must be a JSON object".into()));
    };
    if let Some(id) = obj.get("$id") {
        let expected = format!("driftless:{event_type}/{version}");
        if id.as_str() != Some(expected.as_str()) {
            return Err(err(
                "/$id",
                format!("must be {expected:?} to match the file's place, got {id}"),
            ));
        }
    }
    let root = compile_node(&value, "", &err)?;
    if root.types != [JsonType::Object] {
        return Err(err(
            "/type",
            "the root of an event schema must be \"object\" (the event's properties)".into(),
        ));
    }
    Ok(EventSchema {
        event_type: event_type.to_string(),
        version,
        file: normalized.clone(),
        root,
    })
}

pub fn is_event_type_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

const KEYWORDS: &[&str] = &[
    "$schema",
    "$id",
    "title",
    "description",
    "examples",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "minLength",
    "maxLength",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "items",
    "minItems",
    "maxItems",
];

fn compile_node(
    value: &Value,
    pointer: &str,
    err: &dyn Fn(&str, String) -> SchemaError,
) -> Result<Node> {
    let Value::Object(obj) = value else {
        return Err(err(pointer, "a schema must be a JSON object".into()));
    };
    for key in obj.keys() {
        if !KEYWORDS.contains(&key.as_str()) {
            return Err(err(
                &format!("{pointer}/{}", escape_pointer(key)),
                format!(
                    "keyword {key:?} is not supported; supported: {}",
                    KEYWORDS.join(", ")
                ),
            ));
        }
    }
    let at = |k: &str| format!("{pointer}/{k}");
    let types =
        match obj.get("type") {
            Some(Value::String(s)) => vec![JsonType::parse(s)
                .ok_or_else(|| err(&at("type"), format!("unknown type {s:?}")))?],
            Some(Value::Array(list)) if !list.is_empty() => list
                .iter()
                .map(|t| {
                    t.as_str()
                        .and_then(JsonType::parse)
                        .ok_or_else(|| err(&at("type"), format!("unknown type {t}")))
                })
                .collect::<Result<Vec<_>>>()?,
            _ => {
                return Err(err(
                    &at("type"),
                    "\"type\" is required: a type name or a non-empty list of them".into(),
                ))
            }
        };
    let uint = |k: &str| -> Result<Option<u64>> {
        obj.get(k)
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| err(&at(k), format!("{k:?} must be a non-negative integer")))
            })
            .transpose()
    };
    let num = |k: &str| -> Result<Option<f64>> {
        obj.get(k)
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| err(&at(k), format!("{k:?} must be a number")))
            })
            .transpose()
    };
    let description = match obj.get("description") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(err(
                &at("description"),
                "\"description\" must be a string".into(),
            ))
        }
    };
    let enumeration = match obj.get("enum") {
        None => None,
        Some(Value::Array(values)) if !values.is_empty() => {
            if let Some(bad) = values.iter().find(|v| !types.iter().any(|t| t.matches(v))) {
                return Err(err(
                    &at("enum"),
                    format!("enum value {bad} does not match the node's type"),
                ));
            }
            Some(values.clone())
        }
        Some(_) => {
            return Err(err(
                &at("enum"),
                "\"enum\" must be a non-empty array".into(),
            ))
        }
    };
    let format = match obj.get("format") {
        None => None,
        Some(f) => Some(f.as_str().and_then(Format::parse).ok_or_else(|| {
            err(
                &at("format"),
                format!(
                    "format {f} is not supported; supported: date-time, date, uri, email, uuid"
                ),
            )
        })?),
    };
    let mut properties = Vec::new();
    let mut required = Vec::new();
    if types.contains(&JsonType::Object) {
        match obj.get("additionalProperties") {
            Some(Value::Bool(false)) => {}
            _ => {
                return Err(err(
                    &at("additionalProperties"),
                    "objects must set \"additionalProperties\": false, so that unknown properties are rejected".into(),
                ))
            }
        }
        match obj.get("properties") {
            Some(Value::Object(props)) => {
                for (name, schema) in props {
                    if !is_property_name(name) {
                        return Err(err(
                            &format!("{}/{}", at("properties"), escape_pointer(name)),
                            format!("property name {name:?} must be snake_case (a-z, 0-9, _), so it can be a column and a TypeScript key"),
                        ));
                    }
                    let child = compile_node(
                        schema,
                        &format!("{}/{}", at("properties"), escape_pointer(name)),
                        err,
                    )?;
                    properties.push((name.clone(), child));
                }
            }
            None => {}
            Some(_) => {
                return Err(err(
                    &at("properties"),
                    "\"properties\" must be an object".into(),
                ))
            }
        }
        if let Some(list) = obj.get("required") {
            let Value::Array(list) = list else {
                return Err(err(
                    &at("required"),
                    "\"required\" must be an array of property names".into(),
                ));
            };
            for name in list {
                let name = name
                    .as_str()
                    .ok_or_else(|| err(&at("required"), "\"required\" must list strings".into()))?;
                if !properties.iter().any(|(p, _)| p == name) {
                    return Err(err(
                        &at("required"),
                        format!("required property {name:?} is not under \"properties\""),
                    ));
                }
                required.push(name.to_string());
            }
        }
    } else {
        for k in ["properties", "required", "additionalProperties"] {
            if obj.contains_key(k) {
                return Err(err(&at(k), format!("{k:?} only applies to objects")));
            }
        }
    }
    let items = match obj.get("items") {
        Some(_) if !types.contains(&JsonType::Array) => {
            return Err(err(&at("items"), "\"items\" only applies to arrays".into()))
        }
        Some(schema) => Some(Box::new(compile_node(schema, &at("items"), err)?)),
        None if types.contains(&JsonType::Array) => {
            return Err(err(
                &at("items"),
                "arrays must declare \"items\", so every element is typed".into(),
            ))
        }
        None => None,
    };
    Ok(Node {
        types,
        description,
        enumeration,
        format,
        min_length: uint("minLength")?,
        max_length: uint("maxLength")?,
        minimum: num("minimum")?,
        maximum: num("maximum")?,
        exclusive_minimum: num("exclusiveMinimum")?,
        exclusive_maximum: num("exclusiveMaximum")?,
        properties,
        required,
        items,
        min_items: uint("minItems")?,
        max_items: uint("maxItems")?,
    })
}

fn is_property_name(s: &str) -> bool {
    is_event_type_name(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry() -> Registry {
        Registry::embedded().expect("embedded schemas compile")
    }

    fn errors_for(event_type: &str, props: Value) -> Vec<FieldError> {
        let reg = registry();
        let Lookup::Found(schema) = reg.get(event_type, "1-0-0") else {
            panic!("{event_type} 1-0-0 missing")
        };
        let mut errors = Vec::new();
        schema
            .root
            .validate(&props, &mut "/properties".to_string(), &mut errors);
        errors
    }

    #[test]
    fn an_event_type_ending_in_all_is_refused_because_the_bot_views_use_that_name() {
        let err = compile_file(
            "page_viewed_all/1-0-0.json",
            r#"{"type": "object", "properties": {}}"#,
        )
        .unwrap_err();
        assert!(err.message.contains("must not end in _all"), "{err}");
    }

    #[test]
    fn embedded_registry_has_the_starter_events() {
        let reg = registry();
        assert_eq!(
            reg.event_types(),
            [
                "cart_item_added",
                "checkout_completed",
                "page_viewed",
                "product_viewed",
                "signed_up"
            ]
        );
    }

    #[test]
    fn valid_properties_pass() {
        let errors = errors_for(
            "checkout_completed",
            json!({"order_id": "o-1", "total": 10.5, "currency": "EUR",
                   "items": [{"product_id": "p", "quantity": 2, "price": 5.25}]}),
        );
        assert_eq!(errors, []);
    }

    #[test]
    fn each_problem_is_reported_with_a_pointer_and_what_to_fix() {
        let errors = errors_for(
            "checkout_completed",
            json!({"order_id": "o-1", "total": "10", "currency": "EURO", "colour": "red",
                   "items": [{"product_id": "p", "quantity": 0.5, "price": 1}]}),
        );
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.path.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/properties/total", "must be a number, got string \"10\""),
                ("/properties/currency", "must be at most 3 characters long, got 4"),
                ("/properties/colour", "is not allowed by the schema; known properties: order_id, total, currency, items, coupon, shipping_method"),
                ("/properties/items/0/quantity", "must be an integer, got number 0.5"),
            ]
        );
    }

    #[test]
    fn missing_required_and_enum_violations_are_named() {
        let errors = errors_for("signed_up", json!({"plan": "gold"}));
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.path.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/properties/method", "is required but missing"),
                (
                    "/properties/plan",
                    "must be one of \"free\", \"pro\", \"team\", got string \"gold\""
                ),
            ]
        );
    }

    #[test]
    fn unknown_type_and_version_are_distinguished() {
        let reg = registry();
        assert!(matches!(reg.get("nope", "1-0-0"), Lookup::UnknownType));
        assert!(
            matches!(reg.get("page_viewed", "9-0-0"), Lookup::UnknownVersion(v) if v.len() == 1)
        );
        assert!(matches!(
            reg.get("page_viewed", "01-0-0"),
            Lookup::UnknownVersion(_)
        ));
    }

    #[test]
    fn unsupported_keywords_and_open_objects_are_schema_errors() {
        let open = r#"{"type": "object", "properties": {}}"#;
        let err =
            Registry::from_sources([("x/1-0-0.json".to_string(), open.to_string())]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "x/1-0-0.json: /additionalProperties: objects must set \"additionalProperties\": false, so that unknown properties are rejected"
        );
        let pattern = r#"{"type": "object", "additionalProperties": false, "properties": {"a": {"type": "string", "pattern": "x"}}}"#;
        let err = Registry::from_sources([("x/1-0-0.json".to_string(), pattern.to_string())])
            .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "x/1-0-0.json: /properties/a/pattern: keyword \"pattern\" is not supported"
            ),
            "{err}"
        );
    }

    #[test]
    fn file_names_must_be_schemaver() {
        let ok = r#"{"type": "object", "additionalProperties": false}"#;
        for bad in [
            "x/1-0.json",
            "x/0-1-0.json",
            "x/1-01-0.json",
            "X/1-0-0.json",
        ] {
            assert!(
                Registry::from_sources([(bad.to_string(), ok.to_string())]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn formats_are_checked() {
        assert!(Format::Uuid.check("01936f4e-8a3c-7b2d-9f10-4c5d6e7f8a9b"));
        assert!(!Format::Uuid.check("01936f4e8a3c7b2d9f104c5d6e7f8a9b"));
        assert!(Format::Uri.check("https://shop.example/p?q=1"));
        assert!(!Format::Uri.check("not a uri"));
        assert!(Format::Email.check("a@b.example"));
        assert!(!Format::Email.check("a@b"));
        assert!(Format::Date.check("2026-02-28"));
        assert!(!Format::Date.check("2026-02-30"));
    }
}
