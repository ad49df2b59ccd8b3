//! A Kubernetes object as the API server stored it in etcd, decoded to the JSON that
//! `kubectl get -o json` shows.
//!
//! The API server writes one of three things as an object's value (formats.md §10):
//!
//! ```text
//! JSON       {"kind":"Widget","apiVersion":"example.com/v1",…}   custom resources, old clusters
//! protobuf   "k8s\0" + runtime.Unknown                          built-in types (the default)
//!              field 1 typeMeta {1 apiVersion, 2 kind}
//!              field 2 raw             the object, a message of its Go type
//!              field 3 contentEncoding (empty: the API server never compresses)
//!              field 4 contentType     (empty or application/vnd.kubernetes.protobuf)
//! encrypted  "k8s:enc:<provider>:v1:<key name>:" + ciphertext   encryption at rest
//! ```
//!
//! The protobuf schema is upstream's: the `generated.proto` files of k8s.io/api, apimachinery and
//! apiextensions-apiserver compiled by protoc into `api.fds.zst`, read with prost-reflect. Protobuf
//! does not say how a field looks in JSON; Go's struct tags do. `api-json.tsv.zst` holds, per
//! field and in the Go struct's order, the JSON name (`.` for an inlined struct, `-` for none),
//! `omitempty` and whether the Go field is a pointer. Both files are generated from upstream by
//! `tests/fixtures/k8s/gen/gen.sh` (design.md, "Kubernetes objects"). From them the rules of Go's
//! `encoding/json` follow:
//!
//! - fields in the Go struct's order, `kind` and `apiVersion` first (`TypeMeta` is inlined first);
//! - the generated marshaller writes every non-pointer field, so a field absent from the bytes was
//!   a nil pointer, slice or map: omitted when `omitempty`, else `null`;
//! - a present zero scalar of a non-pointer `omitempty` field is omitted;
//! - `[]byte` as base64, maps with sorted keys, the types with their own `MarshalJSON` below.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine as _;
use prost_reflect::ReflectMessage as _;
use prost_reflect::Value as Pv;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
};
use serde_json::{Map, Value};

/// At most this many notes per value: a damaged value must not make a huge report.
const MAX_NOTES: usize = 8;

const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";
const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";

/// What a value of the Kubernetes key space holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// The whole object, as `kubectl get -o json` shows it.
    Object {
        object: Value,
        from: Source,
        /// What the decoder met but could not show: fields the schema does not know (written by a
        /// newer Kubernetes), raw JSON that did not parse.
        notes: Vec<String>,
    },
    /// A protobuf object of a type the built-in schema does not know (an aggregated API's, or
    /// one newer than the schema): `apiVersion`, `kind` and the whole `metadata` (field 1 of every
    /// Kubernetes object type), the rest of the bytes kept as they are.
    Partial {
        object: Value,
        /// The object's bytes (runtime.Unknown's `raw`), for `to_json`'s base64.
        raw: Vec<u8>,
        reason: String,
    },
    /// Encrypted at rest: never decoded.
    Encrypted { provider: String, key: String },
    /// Looked like JSON or protobuf but is damaged.
    Invalid { from: Source, reason: String },
    /// Neither JSON, protobuf nor encrypted: not a Kubernetes object (a key of etcd's own, a
    /// value some other program wrote).
    Other,
}

/// How the API server wrote a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Json,
    Protobuf,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Json => "json",
            Source::Protobuf => "protobuf",
        }
    }
}

impl Decoded {
    /// The decoded object, when there is one (whole or metadata only).
    pub fn object(&self) -> Option<&Value> {
        match self {
            Decoded::Object { object, .. } | Decoded::Partial { object, .. } => Some(object),
            _ => None,
        }
    }

    /// The form `export --decode` adds to a line, one key saying what it is:
    ///
    /// ```text
    /// {"object": {…}, "encoding": "protobuf"}                         (+ "notes": […])
    /// {"object": {apiVersion, kind, metadata}, "encoding": "protobuf",
    ///  "partial": "<why>", "raw": "<base64 of the object's bytes>"}
    /// {"encrypted": {"provider": "aescbc", "key": "key1"}}
    /// {"invalid": "<why>", "encoding": "json"}
    /// {"other": true}
    /// ```
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        match self {
            Decoded::Object {
                object,
                from,
                notes,
            } => {
                out.insert("object".into(), object.clone());
                out.insert("encoding".into(), from.as_str().into());
                if !notes.is_empty() {
                    out.insert("notes".into(), notes.clone().into());
                }
            }
            Decoded::Partial {
                object,
                raw,
                reason,
            } => {
                out.insert("object".into(), object.clone());
                out.insert("encoding".into(), Source::Protobuf.as_str().into());
                out.insert("partial".into(), reason.clone().into());
                out.insert("raw".into(), base64_std(raw).into());
            }
            Decoded::Encrypted { provider, key } => {
                let mut e = Map::new();
                e.insert("provider".into(), provider.clone().into());
                e.insert("key".into(), key.clone().into());
                out.insert("encrypted".into(), e.into());
            }
            Decoded::Invalid { from, reason } => {
                out.insert("invalid".into(), reason.clone().into());
                out.insert("encoding".into(), from.as_str().into());
            }
            Decoded::Other => {
                out.insert("other".into(), true.into());
            }
        }
        Value::Object(out)
    }
}

/// Decodes one value of the Kubernetes key space. Never panics, whatever the bytes.
pub fn decode(value: &[u8]) -> Decoded {
    if value.starts_with(super::value::ENCRYPTED_PREFIX) {
        return encrypted(value);
    }
    if let Some(rest) = value.strip_prefix(super::value::PROTOBUF_MAGIC) {
        return match schema() {
            Ok(schema) => schema.decode_protobuf(rest),
            Err(reason) => Decoded::Invalid {
                from: Source::Protobuf,
                reason: reason.clone(),
            },
        };
    }
    if value.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return match serde_json::from_slice::<Value>(value) {
            Ok(object) => Decoded::Object {
                object,
                from: Source::Json,
                notes: Vec::new(),
            },
            Err(e) => Decoded::Invalid {
                from: Source::Json,
                reason: format!("invalid JSON: {e}"),
            },
        };
    }
    Decoded::Other
}

/// `k8s:enc:<provider>:<version>:<key name>:` (kms: `k8s:enc:kms:v2:<name>:`). Key names never hold
/// a colon (the API server refuses them), so the first three fields are the header.
/// An encrypted value's header, read the way `inspect` and `verify` read it (`k8s::value`).
fn encrypted(value: &[u8]) -> Decoded {
    match super::value::classify(value) {
        super::value::Storage::Encrypted {
            provider, key_name, ..
        } if provider != "?" => Decoded::Encrypted {
            provider,
            key: key_name,
        },
        _ => Decoded::Invalid {
            from: Source::Protobuf,
            reason: "k8s:enc: prefix without <provider>:<version>:<key name>:".into(),
        },
    }
}

/// One field of a Go struct: its proto field, and how `encoding/json` writes it.
#[derive(Debug)]
struct GoField {
    proto: String,
    json: JsonName,
    omitempty: bool,
    pointer: bool,
}

#[derive(Debug)]
enum JsonName {
    Name(String),
    /// `json:",inline"`: the struct's fields are written into the parent's object.
    Inline,
    /// `json:"-"`: never written.
    Skip,
}

/// The built-in schema: upstream's descriptors and the Go JSON layout of their messages.
#[derive(Debug)]
struct Schema {
    pool: DescriptorPool,
    /// Full proto message name → the Go struct's fields, in the struct's order.
    go: HashMap<String, Vec<GoField>>,
}

fn schema() -> &'static Result<Schema, String> {
    static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
    SCHEMA.get_or_init(Schema::load)
}

impl Schema {
    fn load() -> Result<Schema, String> {
        let broken = |what: &str, e: &dyn std::fmt::Display| {
            format!("the built-in Kubernetes schema ({what}) is unreadable: {e}; a broken build")
        };
        let fds = zstd::decode_all(&include_bytes!("api.fds.zst")[..])
            .map_err(|e| broken("api.fds.zst", &e))?;
        let pool = DescriptorPool::decode(&fds[..]).map_err(|e| broken("api.fds.zst", &e))?;
        let tsv = zstd::decode_all(&include_bytes!("api-json.tsv.zst")[..])
            .map_err(|e| broken("api-json.tsv.zst", &e))?;
        let tsv = String::from_utf8(tsv).map_err(|e| broken("api-json.tsv.zst", &e))?;
        let mut go: HashMap<String, Vec<GoField>> = HashMap::new();
        for line in tsv.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let [msg, proto, json, omitempty, pointer] = f[..] else {
                return Err(broken("api-json.tsv.zst", &format!("line {line:?}")));
            };
            let json = match json {
                "." => JsonName::Inline,
                "-" => JsonName::Skip,
                name => JsonName::Name(name.to_string()),
            };
            go.entry(msg.to_string()).or_default().push(GoField {
                proto: proto.to_string(),
                json,
                omitempty: omitempty == "1",
                pointer: pointer == "1",
            });
        }
        Ok(Schema { pool, go })
    }

    fn decode_protobuf(&self, bytes: &[u8]) -> Decoded {
        let invalid = |reason: String| Decoded::Invalid {
            from: Source::Protobuf,
            reason,
        };
        let Some(unknown_desc) = self.pool.get_message_by_name(UNKNOWN) else {
            return invalid(format!(
                "the built-in schema lacks {UNKNOWN}; a broken build"
            ));
        };
        let unknown = match DynamicMessage::decode(unknown_desc, bytes) {
            Ok(m) => m,
            Err(e) => return invalid(format!("damaged protobuf envelope (runtime.Unknown): {e}")),
        };
        let type_meta = message_field(&unknown, "typeMeta");
        let api_version = type_meta.as_ref().map(|t| string_field(t, "apiVersion"));
        let kind = type_meta.as_ref().map(|t| string_field(t, "kind"));
        let (Some(api_version), Some(kind)) = (api_version, kind) else {
            return invalid("protobuf envelope without apiVersion and kind".into());
        };
        let encoding = string_field(&unknown, "contentEncoding");
        if !encoding.is_empty() {
            return invalid(format!(
                "protobuf envelope with content encoding {encoding:?}"
            ));
        }
        let raw = bytes_field(&unknown, "raw");
        let mut out = Map::new();
        out.insert("kind".into(), kind.clone().into());
        out.insert("apiVersion".into(), api_version.clone().into());
        let Some(desc) = self.message_of(&api_version, &kind) else {
            return self.partial(
                out,
                raw,
                format!("{api_version} {kind} is not in the built-in schema"),
            );
        };
        let msg = match DynamicMessage::decode(desc.clone(), &raw[..]) {
            Ok(m) => m,
            Err(e) => return invalid(format!("damaged {api_version} {kind}: {e}")),
        };
        let mut notes = Vec::new();
        self.write_fields(&msg, &mut out, &mut notes);
        Decoded::Object {
            object: Value::Object(out),
            from: Source::Protobuf,
            notes,
        }
    }

    /// `metadata` read as field 1, which it is in every Kubernetes object type (a unit test checks
    /// the schema's); the other fields are left undecoded.
    fn partial(&self, mut out: Map<String, Value>, raw: Vec<u8>, reason: String) -> Decoded {
        let name = format!("{META}.PartialObjectMetadata");
        let meta = self
            .pool
            .get_message_by_name(&name)
            .and_then(|d| DynamicMessage::decode(d, &raw[..]).ok());
        let Some(meta) = meta else {
            return Decoded::Invalid {
                from: Source::Protobuf,
                reason: format!("{reason}, and its field 1 is not ObjectMeta"),
            };
        };
        let mut notes = Vec::new();
        self.write_fields(&meta, &mut out, &mut notes);
        Decoded::Partial {
            object: Value::Object(out),
            raw,
            reason,
        }
    }

    /// The message of a built-in `apiVersion`/`kind`: group `apps` → `k8s.io.api.apps.<version>`,
    /// the core group → `k8s.io.api.core.v1`, `apiextensions.k8s.io` → apiextensions-apiserver's.
    fn message_of(&self, api_version: &str, kind: &str) -> Option<MessageDescriptor> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let builtin = group.is_empty()
            || group.ends_with(".k8s.io")
            || ["apps", "batch", "autoscaling", "policy", "extensions"].contains(&group);
        let ident = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
        if !builtin || !ident(version) || !ident(kind) {
            return None;
        }
        let package = match group {
            "" => "k8s.io.api.core".to_string(),
            "internal.apiserver.k8s.io" => "k8s.io.api.apiserverinternal".to_string(),
            "apiextensions.k8s.io" => {
                "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions".into()
            }
            g => format!("k8s.io.api.{}", g.split('.').next().unwrap_or(g)),
        };
        let desc = self
            .pool
            .get_message_by_name(&format!("{package}.{version}.{kind}"))?;
        // Only top-level objects: a nested type of the same name (a `Condition`) is no kind.
        let meta = desc.get_field_by_name("metadata")?;
        matches!(meta.kind(), Kind::Message(m) if m.full_name() == format!("{META}.ObjectMeta"))
            .then_some(desc)
    }

    /// Writes `msg`'s fields into `out` as Go's `encoding/json` writes its struct.
    fn write_fields(
        &self,
        msg: &DynamicMessage,
        out: &mut Map<String, Value>,
        notes: &mut Vec<String>,
    ) {
        let desc = msg.descriptor();
        let layout = self.go.get(desc.full_name());
        let mut seen = Vec::new();
        for gf in layout.into_iter().flatten() {
            let Some(fd) = desc.get_field_by_name(&gf.proto) else {
                continue;
            };
            seen.push(fd.number());
            let present = msg.has_field(&fd);
            match &gf.json {
                JsonName::Skip => {}
                JsonName::Inline => {
                    if let Pv::Message(inner) = &*msg.get_field(&fd) {
                        self.write_fields(inner, out, notes);
                    }
                }
                JsonName::Name(name) if !present => {
                    if !gf.omitempty {
                        out.insert(name.clone(), Value::Null);
                    }
                }
                JsonName::Name(name) => {
                    let value = msg.get_field(&fd);
                    if gf.omitempty && !gf.pointer && is_zero(&value) {
                        continue;
                    }
                    out.insert(name.clone(), self.value(&fd, &value, notes));
                }
            }
        }
        // Fields of a message without Go tags (none today): proto name, omitempty.
        for fd in desc.fields().filter(|f| !seen.contains(&f.number())) {
            if msg.has_field(&fd) {
                let value = msg.get_field(&fd);
                if !is_zero(&value) {
                    out.insert(fd.name().to_string(), self.value(&fd, &value, notes));
                }
            }
        }
        for unknown in msg.unknown_fields() {
            note(
                notes,
                format!(
                    "field {} of {} is not in the built-in schema (written by a newer Kubernetes?)",
                    unknown.number(),
                    desc.full_name()
                ),
            );
        }
    }

    fn value(&self, fd: &FieldDescriptor, value: &Pv, notes: &mut Vec<String>) -> Value {
        match value {
            Pv::List(items) => {
                Value::Array(items.iter().map(|v| self.value(fd, v, notes)).collect())
            }
            Pv::Map(map) => {
                let value_fd = match fd.kind() {
                    Kind::Message(entry) => entry.map_entry_value_field(),
                    _ => fd.clone(),
                };
                let mut entries: Vec<(String, Value)> = map
                    .iter()
                    .map(|(k, v)| (map_key(k), self.value(&value_fd, v, notes)))
                    .collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                Value::Object(entries.into_iter().collect())
            }
            Pv::Message(m) => self.message(m, notes),
            scalar => scalar_json(scalar),
        }
    }

    /// A message, with the types whose Go `MarshalJSON` is their own.
    fn message(&self, m: &DynamicMessage, notes: &mut Vec<String>) -> Value {
        let desc = m.descriptor();
        let full = desc.full_name();
        let (package, name) = full.rsplit_once('.').unwrap_or(("", full));
        match (package, name) {
            (META, "Time") | (META, "MicroTime") => time_json(m, name == "MicroTime"),
            (META, "Duration") => go_duration(int_field(m, "duration")).into(),
            (META, "FieldsV1") => raw_json(&bytes_field(m, "Raw"), full, notes),
            ("k8s.io.apimachinery.pkg.runtime", "RawExtension") => {
                raw_json(&bytes_field(m, "raw"), full, notes)
            }
            ("k8s.io.apimachinery.pkg.api.resource", "Quantity") => {
                string_field(m, "string").into()
            }
            ("k8s.io.apimachinery.pkg.util.intstr", "IntOrString") => {
                if int_field(m, "type") == 1 {
                    string_field(m, "strVal").into()
                } else {
                    int_field(m, "intVal").into()
                }
            }
            (p, _) if p.starts_with("k8s.io.apiextensions_apiserver.") => {
                self.apiextensions(m, name, notes)
            }
            _ => self.object_or_list(m, notes),
        }
    }

    /// apiextensions' JSON schema types with their own `MarshalJSON` (`marshal.go`).
    fn apiextensions(&self, m: &DynamicMessage, name: &str, notes: &mut Vec<String>) -> Value {
        let mut field = |n: &str| {
            let fd = m.descriptor().get_field_by_name(n)?;
            m.has_field(&fd)
                .then(|| self.value(&fd, &m.get_field(&fd), notes))
        };
        let non_empty = |v: &Value| v.as_array().is_some_and(|a| !a.is_empty());
        match name {
            "JSONSchemaPropsOrBool" => {
                field("schema").unwrap_or_else(|| bool_field(m, "allows").into())
            }
            "JSONSchemaPropsOrArray" => match field("jSONSchemas").filter(non_empty) {
                Some(list) => list,
                None => field("schema").unwrap_or(Value::Null),
            },
            "JSONSchemaPropsOrStringArray" => match field("property").filter(non_empty) {
                Some(list) => list,
                None => field("schema").unwrap_or(Value::Null),
            },
            "JSON" => raw_json(&bytes_field(m, "raw"), m.descriptor().full_name(), notes),
            _ => self.object_or_list(m, notes),
        }
    }

    /// A struct; or a Go slice type that protobuf wraps in a message of one repeated `items`
    /// field (`ExtraValue []string` of a CertificateSigningRequest's `extra`).
    fn object_or_list(&self, m: &DynamicMessage, notes: &mut Vec<String>) -> Value {
        let desc = m.descriptor();
        if !self.go.contains_key(desc.full_name()) && desc.fields().len() == 1 {
            if let Some(items) = desc.get_field_by_name("items").filter(|f| f.is_list()) {
                return match &*m.get_field(&items) {
                    Pv::List(l) if !l.is_empty() => self.value(&items, &Pv::List(l.clone()), notes),
                    _ => Value::Null,
                };
            }
        }
        let mut out = Map::new();
        self.write_fields(m, &mut out, notes);
        Value::Object(out)
    }
}

fn note(notes: &mut Vec<String>, text: String) {
    if notes.len() < MAX_NOTES && !notes.contains(&text) {
        notes.push(text);
    }
}

/// Go's zero value, which `omitempty` leaves out.
fn is_zero(v: &Pv) -> bool {
    match v {
        Pv::Bool(b) => !b,
        Pv::I32(n) | Pv::EnumNumber(n) => *n == 0,
        Pv::I64(n) => *n == 0,
        Pv::U32(n) => *n == 0,
        Pv::U64(n) => *n == 0,
        Pv::F32(n) => *n == 0.0,
        Pv::F64(n) => *n == 0.0,
        Pv::String(s) => s.is_empty(),
        Pv::Bytes(b) => b.is_empty(),
        Pv::List(l) => l.is_empty(),
        Pv::Map(m) => m.is_empty(),
        Pv::Message(_) => false,
    }
}

fn scalar_json(v: &Pv) -> Value {
    match v {
        Pv::Bool(b) => (*b).into(),
        Pv::I32(n) | Pv::EnumNumber(n) => (*n).into(),
        Pv::I64(n) => (*n).into(),
        Pv::U32(n) => (*n).into(),
        Pv::U64(n) => (*n).into(),
        Pv::F32(n) => f64::from(*n).into(),
        Pv::F64(n) => (*n).into(),
        Pv::String(s) => s.clone().into(),
        Pv::Bytes(b) => base64_std(b).into(),
        Pv::List(_) | Pv::Map(_) | Pv::Message(_) => Value::Null,
    }
}

fn map_key(k: &MapKey) -> String {
    match k {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

pub(crate) fn base64_std(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn message_field(m: &DynamicMessage, name: &str) -> Option<DynamicMessage> {
    let fd = m.descriptor().get_field_by_name(name)?;
    match &*m.get_field(&fd) {
        Pv::Message(inner) if m.has_field(&fd) => Some(inner.clone()),
        _ => None,
    }
}

fn string_field(m: &DynamicMessage, name: &str) -> String {
    m.get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn bytes_field(m: &DynamicMessage, name: &str) -> Vec<u8> {
    m.get_field_by_name(name)
        .and_then(|v| v.as_bytes().map(|b| b.to_vec()))
        .unwrap_or_default()
}

fn bool_field(m: &DynamicMessage, name: &str) -> bool {
    m.get_field_by_name(name)
        .and_then(|v| v.as_bool())
        .unwrap_or_default()
}

fn int_field(m: &DynamicMessage, name: &str) -> i64 {
    match m.get_field_by_name(name).as_deref() {
        Some(Pv::I32(n)) => i64::from(*n),
        Some(Pv::I64(n)) => *n,
        _ => 0,
    }
}

/// Embedded JSON (`FieldsV1`, `RawExtension`, apiextensions' `JSON`): written as it is; empty is
/// `null`. Bytes that are not JSON (Go's marshal would fail) show as base64, with a note.
fn raw_json(raw: &[u8], what: &str, notes: &mut Vec<String>) -> Value {
    if raw.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(raw).unwrap_or_else(|e| {
        note(
            notes,
            format!("{what} does not hold JSON ({e}); shown as base64"),
        );
        base64_std(raw).into()
    })
}

/// `metav1.Time`: RFC 3339 in UTC to the second; `MicroTime`: to the microsecond. A message with no
/// field set is Go's zero time, `null` (time_proto.go: empty bytes unmarshal to the zero time).
fn time_json(m: &DynamicMessage, micro: bool) -> Value {
    if m.fields().next().is_none() {
        return Value::Null;
    }
    let seconds = int_field(m, "seconds");
    let nanos = if micro {
        (int_field(m, "nanos") / 1000) * 1000
    } else {
        0
    };
    let Ok(nanos) = u32::try_from(nanos) else {
        return Value::Null;
    };
    match chrono::DateTime::from_timestamp(seconds, nanos) {
        Some(t) if micro => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string().into(),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%SZ").to_string().into(),
        None => Value::Null,
    }
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `300ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        let (unit, div) = match n {
            0..1_000 => ("ns", 1),
            1_000..1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{unit}", fraction(n, div));
    }
    let (h, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (m, s) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let mut out = sign.to_string();
    if h > 0 {
        out += &format!("{h}h");
    }
    if h > 0 || m > 0 {
        out += &format!("{m}m");
    }
    out + &format!("{}s", fraction(s, 1_000_000_000))
}

/// `n / div` with its fraction, trailing zeros dropped, as Go prints durations.
fn fraction(n: u64, div: u64) -> String {
    let (whole, frac) = (n / div, n % div);
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests;
