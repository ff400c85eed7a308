//! `driftless lint`: finds the SDK's tracking calls in TypeScript/JavaScript sources with a real
//! parser (oxc) and checks them against the latest schema of each event type.
//!
//! Recognised calls: `<any expression>.track("event", {...})` (`client.track`, `analytics.track`,
//! `this.analytics?.track`, ...) and a bare `track("event", {...})` when `track` is imported from the
//! SDK package. A call whose event type is not a literal cannot be checked and is left alone; a call
//! whose properties are not an object literal gets only its event type checked. Spreads and computed
//! keys make an object open: its explicit keys are still checked, missing required ones are not.

use std::fmt;
use std::path::{Path, PathBuf};

use driftless::schema::{EventSchema, JsonType, Node, Registry};
use oxc_allocator::Allocator;
use oxc_ast::ast::{
    ArrayExpressionElement, CallExpression, Expression, ImportDeclarationSpecifier,
    ObjectExpression, ObjectPropertyKind, Statement, UnaryOperator,
};
use oxc_ast_visit::{walk, Visit};
use oxc_parser::Parser;
use oxc_span::{GetSpan, SourceType};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{CliError, Result};

/// The SDK's npm package names (the published one and a short alias).
pub const SDK_PACKAGES: &[&str] = &["@driftless/sdk", "driftless"];

const EXTENSIONS: &[&str] = &["ts", "tsx", "mts", "cts", "js", "jsx", "mjs", "cjs"];
/// Directories that hold dependencies or build output, never the app's own tracking code.
const SKIPPED_DIRS: &[&str] = &["node_modules", "dist", "build", "coverage", "target"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub rule: &'static str,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub files: usize,
    /// Tracking calls whose event type was a literal, so they could be checked.
    pub calls: usize,
    pub findings: Vec<Finding>,
}

pub fn to_json(findings: &[Finding]) -> String {
    serde_json::to_string_pretty(findings).unwrap_or_else(|_| "[]".into())
}

/// Lints every source file under `paths` (files or directories), in sorted order.
pub fn lint_paths(registry: &Registry, paths: &[PathBuf]) -> Result<Report> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            collect(path, &mut files)?;
        } else if path.is_file() {
            if !has_source_extension(path) {
                return Err(CliError::Usage(format!(
                    "{}: not a TypeScript or JavaScript file (expected one of .{})",
                    path.display(),
                    EXTENSIONS.join(", .")
                )));
            }
            files.push(path.clone());
        } else {
            return Err(CliError::Usage(format!(
                "{}: no such file or directory",
                path.display()
            )));
        }
    }
    files.sort();
    files.dedup();
    let mut linter = Linter::new(registry);
    let mut report = Report::default();
    for file in &files {
        let display = file.display().to_string();
        match std::fs::read(file) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(source) => {
                    let source_type = SourceType::from_path(file).unwrap_or_default();
                    linter.lint_source(&display, &source, source_type, &mut report);
                }
                Err(_) => report.findings.push(Finding {
                    file: display,
                    line: 1,
                    col: 1,
                    rule: "parse-error",
                    message: "cannot parse: the file is not UTF-8".into(),
                }),
            },
            Err(e) => return Err(CliError::io(file, e)),
        }
        report.files += 1;
    }
    Ok(report)
}

fn has_source_extension(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    // Declaration files hold types only, never calls.
    !name.ends_with(".d.ts")
        && path
            .extension()
            .is_some_and(|e| EXTENSIONS.iter().any(|x| e == *x))
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| CliError::io(dir, e))? {
        let path = entry.map_err(|e| CliError::io(dir, e))?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            if !name.starts_with('.') && !SKIPPED_DIRS.contains(&name.as_ref()) {
                collect(&path, files)?;
            }
        } else if has_source_extension(&path) {
            files.push(path);
        }
    }
    Ok(())
}

/// Checks sources one after another, reusing one arena.
pub struct Linter<'r> {
    latest: Vec<&'r EventSchema>,
    allocator: Allocator,
}

impl<'r> Linter<'r> {
    pub fn new(registry: &'r Registry) -> Linter<'r> {
        Linter {
            latest: registry.latest(),
            allocator: Allocator::default(),
        }
    }

    /// Lints one source text, appending its findings (sorted by position) to `report`.
    pub fn lint_source(
        &mut self,
        file: &str,
        source: &str,
        source_type: SourceType,
        report: &mut Report,
    ) {
        self.allocator.reset();
        let lines = LineIndex::new(source);
        let ret = Parser::new(&self.allocator, source, source_type).parse();
        let errors: Vec<_> = ret.diagnostics.errors().collect();
        if ret.panicked || !errors.is_empty() {
            // A partly recovered tree could hide calls or invent them: report, don't guess.
            for diag in errors {
                let offset = diag.labels.first().map_or(0, |l| l.offset() as usize);
                let (line, col) = lines.position(source, offset);
                report.findings.push(Finding {
                    file: file.to_string(),
                    line,
                    col,
                    rule: "parse-error",
                    message: format!("cannot parse: {}", diag.message),
                });
            }
            return;
        }
        let mut bare_track = Vec::new();
        for stmt in &ret.program.body {
            if let Statement::ImportDeclaration(decl) = stmt {
                if !SDK_PACKAGES.contains(&decl.source.value.as_str()) {
                    continue;
                }
                for spec in decl.specifiers.iter().flatten() {
                    if let ImportDeclarationSpecifier::ImportSpecifier(s) = spec {
                        if s.imported.name() == "track" {
                            bare_track.push(s.local.name.to_string());
                        }
                    }
                }
            }
        }
        let mut visitor = CallVisitor {
            checker: Checker {
                file,
                source,
                lines: &lines,
                latest: &self.latest,
                findings: Vec::new(),
            },
            bare_track,
            calls: 0,
        };
        visitor.visit_program(&ret.program);
        let mut findings = visitor.checker.findings;
        findings.sort_by_key(|f| (f.line, f.col));
        report.calls += visitor.calls;
        report.findings.extend(findings);
    }
}

struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(source: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// 1-based line and column (in characters) of a byte offset.
    fn position(&self, source: &str, offset: usize) -> (usize, usize) {
        let offset = offset.min(source.len());
        let line = self.starts.partition_point(|s| *s <= offset) - 1;
        let start = self.starts[line];
        let col = source
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }
}

struct CallVisitor<'c> {
    checker: Checker<'c>,
    bare_track: Vec<String>,
    calls: usize,
}

impl<'a> Visit<'a> for CallVisitor<'_> {
    fn visit_call_expression(&mut self, call: &CallExpression<'a>) {
        if self.is_track(call) && self.checker.check_call(call) {
            self.calls += 1;
        }
        walk::walk_call_expression(self, call);
    }
}

impl CallVisitor<'_> {
    fn is_track(&self, call: &CallExpression<'_>) -> bool {
        match inner(&call.callee) {
            Expression::StaticMemberExpression(m) => m.property.name == "track",
            Expression::Identifier(id) => self.bare_track.iter().any(|n| id.name == n.as_str()),
            _ => false,
        }
    }
}

/// The expression under parentheses and TypeScript-only wrappers (`as`, `satisfies`, `!`, `<T>`).
fn inner<'b, 'a>(expr: &'b Expression<'a>) -> &'b Expression<'a> {
    match expr {
        Expression::ParenthesizedExpression(e) => inner(&e.expression),
        Expression::TSAsExpression(e) => inner(&e.expression),
        Expression::TSSatisfiesExpression(e) => inner(&e.expression),
        Expression::TSNonNullExpression(e) => inner(&e.expression),
        Expression::TSTypeAssertion(e) => inner(&e.expression),
        other => other,
    }
}

struct Checker<'c> {
    file: &'c str,
    source: &'c str,
    lines: &'c LineIndex,
    latest: &'c [&'c EventSchema],
    findings: Vec<Finding>,
}

impl Checker<'_> {
    fn report(&mut self, offset: u32, rule: &'static str, message: String) {
        let (line, col) = self.lines.position(self.source, offset as usize);
        self.findings.push(Finding {
            file: self.file.to_string(),
            line,
            col,
            rule,
            message,
        });
    }

    /// Checks one tracking call; false when its event type is not a literal (not checkable).
    fn check_call(&mut self, call: &CallExpression<'_>) -> bool {
        let Some(first) = call.arguments.first().and_then(|a| a.as_expression()) else {
            return false;
        };
        let Some(event_type) = static_string(inner(first)) else {
            return false;
        };
        let Some(schema) = self
            .latest
            .iter()
            .find(|s| s.event_type == event_type)
            .copied()
        else {
            let known: Vec<&str> = self.latest.iter().map(|s| s.event_type.as_str()).collect();
            self.report(
                first.span().start,
                "unknown-event",
                format!(
                    "unknown event type {event_type:?}; known: {}",
                    known.join(", ")
                ),
            );
            return true;
        };
        let label = format!("{} {}", schema.event_type, schema.version);
        match call.arguments.get(1) {
            // `track("x")`: no properties at all, so every required one is missing.
            None => {
                for name in &schema.root.required {
                    self.report(
                        call.span.start,
                        "missing-required",
                        format!("missing required property {name:?} for {label}"),
                    );
                }
            }
            Some(arg) => {
                if let Some(Expression::ObjectExpression(obj)) = arg.as_expression().map(inner) {
                    self.check_object(obj, &schema.root, &label, "");
                }
            }
        }
        true
    }

    fn check_object(&mut self, obj: &ObjectExpression<'_>, node: &Node, label: &str, path: &str) {
        let mut seen: Vec<String> = Vec::new();
        let mut open = false;
        for prop in &obj.properties {
            let ObjectPropertyKind::ObjectProperty(p) = prop else {
                open = true;
                continue;
            };
            let Some(name) = p.key.static_name() else {
                open = true;
                continue;
            };
            let full = format!("{path}{name}");
            match node.properties.iter().find(|(n, _)| *n == name) {
                None => {
                    let known: Vec<&str> =
                        node.properties.iter().map(|(n, _)| n.as_str()).collect();
                    self.report(
                        p.key.span().start,
                        "unknown-property",
                        format!(
                            "unknown property {full:?} for {label}; known: {}",
                            known.join(", ")
                        ),
                    );
                }
                Some((_, child)) => {
                    if !p.shorthand {
                        self.check_value(&p.value, child, label, &full);
                    }
                }
            }
            seen.push(name.into_owned());
        }
        if !open {
            for name in node.required.iter().filter(|r| !seen.contains(r)) {
                self.report(
                    obj.span.start,
                    "missing-required",
                    format!("missing required property \"{path}{name}\" for {label}"),
                );
            }
        }
    }

    /// Checks a literal value against its schema node with the validator's own rules; values
    /// known only at run time are left to the type checker and the ingest function.
    fn check_value(&mut self, expr: &Expression<'_>, node: &Node, label: &str, path: &str) {
        let expr = inner(expr);
        let start = expr.span().start;
        let value = match expr {
            Expression::StringLiteral(s) => Value::String(s.value.to_string()),
            Expression::TemplateLiteral(t) => match t.single_quasi() {
                Some(s) => Value::String(s.to_string()),
                None => {
                    // An interpolated string: its value is unknown, its type is not.
                    if !node.types.contains(&JsonType::String) {
                        self.type_mismatch(start, node, label, path, &Value::String(String::new()));
                    }
                    return;
                }
            },
            Expression::NumericLiteral(n) => number(n.value),
            Expression::UnaryExpression(u) if u.operator == UnaryOperator::UnaryNegation => {
                match inner(&u.argument) {
                    Expression::NumericLiteral(n) => number(-n.value),
                    _ => return,
                }
            }
            Expression::BooleanLiteral(b) => Value::Bool(b.value),
            Expression::NullLiteral(_) => Value::Null,
            Expression::ObjectExpression(obj) => {
                if node.types.contains(&JsonType::Object) {
                    self.check_object(obj, node, label, &format!("{path}."));
                } else {
                    self.type_mismatch(start, node, label, path, &Value::Object(Map::new()));
                }
                return;
            }
            Expression::ArrayExpression(arr) => {
                if !node.types.contains(&JsonType::Array) {
                    self.type_mismatch(start, node, label, path, &Value::Array(Vec::new()));
                    return;
                }
                if let Some(items) = &node.items {
                    for (i, el) in arr.elements.iter().enumerate() {
                        if let ArrayExpressionElement::SpreadElement(_)
                        | ArrayExpressionElement::Elision(_) = el
                        {
                            continue;
                        }
                        if let Some(e) = el.as_expression() {
                            self.check_value(e, items, label, &format!("{path}[{i}]"));
                        }
                    }
                }
                return;
            }
            _ => return,
        };
        let mut errors = Vec::new();
        node.validate(&value, &mut String::new(), &mut errors);
        for e in errors {
            let rule = if is_type_message(&e.message) {
                "wrong-type"
            } else {
                "invalid-value"
            };
            self.report(
                start,
                rule,
                format!("property {path:?} of {label} {}", e.message),
            );
        }
    }

    fn type_mismatch(&mut self, start: u32, node: &Node, label: &str, path: &str, sample: &Value) {
        let mut errors = Vec::new();
        node.validate(sample, &mut String::new(), &mut errors);
        let message = errors
            .into_iter()
            .next()
            .map(|e| e.message)
            .unwrap_or_else(|| "has the wrong type".into());
        self.report(
            start,
            "wrong-type",
            format!("property {path:?} of {label} {message}"),
        );
    }
}

/// The validator says `must be a string, got ...` for a wrong type and `must be one of ...` for a
/// value outside an enum; both are a wrong literal. Lengths and ranges are value problems.
fn is_type_message(message: &str) -> bool {
    message.starts_with("must be a ")
        || message.starts_with("must be an ")
        || message.starts_with("must be null")
        || message.starts_with("must be one of ")
}

fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

fn static_string(expr: &Expression<'_>) -> Option<String> {
    match expr {
        Expression::StringLiteral(s) => Some(s.value.to_string()),
        Expression::TemplateLiteral(t) => t.single_quasi().map(|s| s.to_string()),
        _ => None,
    }
}
