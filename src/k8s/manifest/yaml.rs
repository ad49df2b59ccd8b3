//! JSON as YAML that every Kubernetes reader takes back to the same JSON.
//!
//! kubectl reads YAML through go-yaml, which resolves plain scalars by YAML 1.1's rules: `yes`,
//! `on`, `off`, `y` are booleans, `0755` is octal, `1:20` sexagesimal, `2026-11-21` a timestamp.
//! YAML 1.2 emitters (serde_norway among them) write those strings plain, and a ConfigMap value
//! `on` comes back as `true`, which the API server refuses. So strings are plain only when they
//! cannot be read as anything else in either version; otherwise double-quoted with JSON's escapes
//! (a subset of YAML's), or a literal block (`|`) for readable multi-line text.
//!
//! Layout as kubectl writes it: two-space indentation, sequences under a key not indented.

use serde_json::{Map, Value};

/// The document for a JSON object (or any value).
pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => map(m, 0, false, &mut out),
        Value::Array(a) if !a.is_empty() => seq(a, 0, &mut out),
        v => {
            out.push_str(&scalar(v, 0));
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A mapping at `indent`; with `inline_first` its first key continues the current line (`- a: 1`).
fn map(m: &Map<String, Value>, indent: usize, inline_first: bool, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 || !inline_first {
            pad(out, indent);
        }
        out.push_str(&string(k, usize::MAX));
        out.push(':');
        match v {
            Value::Object(inner) if !inner.is_empty() => {
                out.push('\n');
                map(inner, indent + 2, false, out);
            }
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                seq(items, indent, out);
            }
            v => {
                out.push(' ');
                out.push_str(&scalar(v, indent + 2));
                out.push('\n');
            }
        }
    }
}

fn seq(items: &[Value], indent: usize, out: &mut String) {
    for v in items {
        pad(out, indent);
        out.push('-');
        match v {
            Value::Object(inner) if !inner.is_empty() => {
                out.push(' ');
                map(inner, indent + 2, true, out);
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                seq(inner, indent + 2, out);
            }
            v => {
                out.push(' ');
                out.push_str(&scalar(v, indent + 2));
                out.push('\n');
            }
        }
    }
}

/// A scalar (or an empty collection); a block string's lines are indented by `indent`.
fn scalar(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, indent),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// A string: plain, a literal block (when `indent` allows one), or double-quoted.
fn string(s: &str, indent: usize) -> String {
    if plain_ok(s) {
        return s.to_string();
    }
    if indent != usize::MAX {
        if let Some(block) = block(s, indent) {
            return block;
        }
    }
    quoted(s)
}

/// Words YAML 1.1 or 1.2 read as booleans or null.
const SPECIAL_WORDS: [&str; 26] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
];

/// Plain only for the common, unambiguous case: starts with a letter or `/` (never a digit, sign
/// or dot, so no number, date, time or `.inf` of either YAML version), then letters, digits and
/// `-_./@=+:,` (`: ` and ` #` cannot occur), not ending in `:`, not a special word.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./@=+:,".contains(c))
        && !s.ends_with(':')
        && !s.contains("::")
        && !SPECIAL_WORDS.contains(&s)
}

/// `|` (one final newline) or `|-` (none) for text lines without anything a block cannot hold
/// as it is: control characters, `\r`, blank lines of spaces, a leading space (which would need an
/// indentation indicator), several final newlines.
fn block(s: &str, indent: usize) -> Option<String> {
    let (body, chomp) = match s.strip_suffix('\n') {
        Some(body) => (body, "|"),
        None => (s, "|-"),
    };
    let simple = body.contains('\n')
        && !body.ends_with('\n')
        && !body.starts_with([' ', '\n'])
        && !body
            .chars()
            .any(|c| needs_escape(c) && c != '\n' && c != '\t')
        && body
            .lines()
            .all(|l| !l.starts_with('\t') && (l.is_empty() || !l.trim().is_empty()));
    if !simple {
        return None;
    }
    let mut out = chomp.to_string();
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.extend(std::iter::repeat_n(' ', indent));
            out.push_str(line);
        }
    }
    Some(out)
}

/// Not printable in YAML (or a line break YAML would fold): escaped in a quoted string.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
