//! The oracle is upstream's: `tests/fixtures/k8s/*.pb` are the bytes Kubernetes' own protobuf
//! serializer wrote (k8s.io/api `testdata/HEAD`, every field filled), `*.json` what Go's
//! `encoding/json` made of the same object (tests/fixtures/k8s/UPSTREAM names the commits).

use super::*;
use crate::k8s::value::PROTOBUF_MAGIC;
use proptest::prelude::*;
use std::path::PathBuf;

const FIXTURES: [&str; 7] = [
    "core.v1.Pod",
    "core.v1.Secret",
    "core.v1.ConfigMap",
    "core.v1.Service",
    "apps.v1.Deployment",
    "coordination.k8s.io.v1.Lease",
    "apiextensions.k8s.io.v1.CustomResourceDefinition",
];

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/k8s")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn go_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(&format!("{name}.json"))).unwrap()
}

#[test]
fn protobuf_fixtures_decode_to_go_json_in_go_order() {
    for name in FIXTURES {
        let decoded = decode(&fixture(&format!("{name}.pb")));
        let Decoded::Object {
            object,
            from: Source::Protobuf,
            notes,
        } = &decoded
        else {
            panic!("{name}: {decoded:?}");
        };
        assert!(notes.is_empty(), "{name}: {notes:?}");
        let want = go_json(name);
        // Field order too: the pretty forms are equal only with the keys in Go's order.
        let (got, want) = (
            serde_json::to_string_pretty(object).unwrap(),
            serde_json::to_string_pretty(&want).unwrap(),
        );
        if got != want {
            let line = got.lines().zip(want.lines()).position(|(a, b)| a != b);
            let context = |s: &str| -> Vec<String> {
                let skip = line.unwrap_or(0).saturating_sub(3);
                s.lines().skip(skip).take(8).map(str::to_string).collect()
            };
            panic!(
                "{name} differs at line {line:?}:\n{:#?}\nwant:\n{:#?}",
                context(&got),
                context(&want)
            );
        }
    }
}

#[test]
fn json_values_are_the_object_as_stored() {
    let cr = br#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","namespace":"default","uid":"1f0e","creationTimestamp":"2026-11-21T08:00:00Z"},"spec":{"size":3}}"#;
    let decoded = decode(cr);
    assert_eq!(
        decoded,
        Decoded::Object {
            object: serde_json::from_slice(cr).unwrap(),
            from: Source::Json,
            notes: vec![]
        }
    );
    assert_eq!(decoded.object().unwrap()["spec"]["size"], 3);
    let Decoded::Invalid { from, reason } = decode(br#"{"kind": "Widget", "#) else {
        panic!("truncated JSON must be invalid");
    };
    assert_eq!(from, Source::Json);
    assert!(reason.starts_with("invalid JSON: EOF"), "{reason}");
}

#[test]
fn encrypted_values_name_provider_and_key_and_are_never_decoded() {
    for (value, provider, key) in [
        (
            &b"k8s:enc:aescbc:v1:key1:\x8a\x00\x13garbage"[..],
            "aescbc",
            "key1",
        ),
        (
            b"k8s:enc:aesgcm:v1:2026-rotation:\x00",
            "aesgcm",
            "2026-rotation",
        ),
        (b"k8s:enc:secretbox:v1:sb:", "secretbox", "sb"),
        (b"k8s:enc:kms:v2:vault-kms:\x0a\x05", "kms", "vault-kms"),
    ] {
        let want = Decoded::Encrypted {
            provider: provider.into(),
            key: key.into(),
        };
        assert_eq!(decode(value), want);
        assert_eq!(
            want.to_json(),
            serde_json::json!({"encrypted": {"provider": provider, "key": key}})
        );
    }
    assert!(matches!(decode(b"k8s:enc:aescbc"), Decoded::Invalid { .. }));
}

#[test]
fn other_values_are_not_kubernetes_objects() {
    for value in [&b""[..], b"\x00\x00\x00\x01", b"10.0.0.11", b"[1,2]"] {
        assert_eq!(decode(value), Decoded::Other, "{value:?}");
    }
}

/// A kind the schema does not know (an aggregated API's APIService is not in it) keeps apiVersion,
/// kind and the whole metadata; the rest is raw. The object's bytes are upstream's Pod.
#[test]
fn a_type_the_schema_does_not_know_shows_its_metadata() {
    let pod = fixture("core.v1.Pod.pb");
    let Ok(Schema { pool, .. }) = schema() else {
        panic!()
    };
    let unknown_desc = pool.get_message_by_name(UNKNOWN).unwrap();
    let mut envelope = DynamicMessage::decode(unknown_desc, &pod[4..]).unwrap();
    let raw = bytes_field(&envelope, "raw");
    let mut type_meta = message_field(&envelope, "typeMeta").unwrap();
    type_meta.set_field_by_name("apiVersion", Pv::String("apiregistration.k8s.io/v1".into()));
    type_meta.set_field_by_name("kind", Pv::String("APIService".into()));
    envelope.set_field_by_name("typeMeta", Pv::Message(type_meta));
    let mut value = PROTOBUF_MAGIC.to_vec();
    prost::Message::encode(&envelope, &mut value).unwrap();

    let decoded = decode(&value);
    let Decoded::Partial {
        object,
        raw: got_raw,
        reason,
    } = &decoded
    else {
        panic!("{decoded:?}");
    };
    assert_eq!(
        reason,
        "apiregistration.k8s.io/v1 APIService is not in the built-in schema"
    );
    assert_eq!(got_raw, &raw);
    assert_eq!(object["metadata"], go_json("core.v1.Pod")["metadata"]);
    assert_eq!(object["kind"], "APIService");
    assert_eq!(
        object.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["kind", "apiVersion", "metadata"]
    );
    assert_eq!(decoded.to_json()["raw"], base64_std(&raw));
}

/// What the partial decode relies on: `metadata` is field 1 of every object type in the schema.
#[test]
fn object_meta_is_field_1_of_every_kind() {
    let Ok(Schema { pool, .. }) = schema() else {
        panic!()
    };
    let mut kinds = 0;
    for desc in pool.all_messages() {
        let Some(meta) = desc.get_field_by_name("metadata") else {
            continue;
        };
        if matches!(meta.kind(), Kind::Message(m) if m.full_name() == format!("{META}.ObjectMeta"))
        {
            assert_eq!(meta.number(), 1, "{}", desc.full_name());
            kinds += 1;
        }
    }
    assert!(kinds > 100, "{kinds}");
}

#[test]
fn kinds_map_to_their_messages() {
    let Ok(s) = schema() else { panic!() };
    let name = |v, k| s.message_of(v, k).map(|d| d.full_name().to_string());
    assert_eq!(name("v1", "Pod").as_deref(), Some("k8s.io.api.core.v1.Pod"));
    assert_eq!(
        name("apps/v1", "Deployment").as_deref(),
        Some("k8s.io.api.apps.v1.Deployment")
    );
    assert_eq!(
        name("rbac.authorization.k8s.io/v1", "ClusterRole").as_deref(),
        Some("k8s.io.api.rbac.v1.ClusterRole")
    );
    assert_eq!(
        name("apiextensions.k8s.io/v1", "CustomResourceDefinition").as_deref(),
        Some("k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition")
    );
    assert_eq!(
        name("flowcontrol.apiserver.k8s.io/v1", "FlowSchema").as_deref(),
        Some("k8s.io.api.flowcontrol.v1.FlowSchema")
    );
    // A custom group reusing a built-in group's first label, a nested type, an odd version.
    assert_eq!(name("apps.example.com/v1", "Deployment"), None);
    assert_eq!(name("v1", "PodCondition"), None);
    assert_eq!(name("v1.", "Pod"), None);
}

#[test]
fn times_and_durations_as_go_writes_them() {
    let Ok(s) = schema() else { panic!() };
    let time = |micro: bool, fields: &[(&str, Pv)]| {
        let name = if micro { "MicroTime" } else { "Time" };
        let mut m = DynamicMessage::new(
            s.pool
                .get_message_by_name(&format!("{META}.{name}"))
                .unwrap(),
        );
        for (f, v) in fields {
            m.set_field_by_name(f, v.clone());
        }
        time_json(&m, micro)
    };
    assert_eq!(time(false, &[]), Value::Null);
    assert_eq!(
        time(false, &[("seconds", Pv::I64(0))]),
        "1970-01-01T00:00:00Z"
    );
    let t = [
        ("seconds", Pv::I64(1_795_000_000)),
        ("nanos", Pv::I32(123_456_789)),
    ];
    assert_eq!(time(false, &t), "2026-11-18T11:06:40Z");
    assert_eq!(time(true, &t), "2026-11-18T11:06:40.123456Z");
    for (ns, go) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (300_000_000, "300ms"),
        (1_000_000_000, "1s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_500_000_000, "1h2m3.5s"),
        (-2_000_000_000, "-2s"),
    ] {
        assert_eq!(go_duration(ns), go, "{ns}");
    }
}

/// Every kind of upstream's round-trip fixtures, not only the ones committed here:
/// `K8S_TESTDATA=<kubernetes/api checkout>/testdata/HEAD cargo test --lib -- --ignored every_kind`.
#[test]
#[ignore = "needs a checkout of kubernetes/api (K8S_TESTDATA)"]
fn every_kind_of_upstreams_fixtures() {
    let dir = PathBuf::from(std::env::var_os("K8S_TESTDATA").expect("K8S_TESTDATA"));
    let Ok(schema) = schema() else { panic!() };
    let (mut decoded, mut not_objects, mut failed) = (0, 0, Vec::new());
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "pb") {
            continue;
        }
        let want: Value =
            serde_json::from_slice(&std::fs::read(path.with_extension("json")).unwrap()).unwrap();
        // Options, Status, WatchEvent, AdmissionReview…: no ObjectMeta, never stored in etcd.
        let (v, k) = (want["apiVersion"].as_str(), want["kind"].as_str());
        if schema
            .message_of(v.unwrap_or(""), k.unwrap_or(""))
            .is_none()
        {
            not_objects += 1;
            continue;
        }
        match decode(&std::fs::read(&path).unwrap()) {
            Decoded::Object { object, notes, .. } if object == want && notes.is_empty() => {
                decoded += 1
            }
            other => failed.push((path.file_name().unwrap().to_owned(), other.to_json())),
        }
    }
    eprintln!("{decoded} equal to Go's JSON; {not_objects} not object kinds");
    assert!(
        failed.is_empty(),
        "{} differ: {:#?}",
        failed.len(),
        failed.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
}

fn damaged(value: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = value.len();
    prop::collection::vec((0..len.max(1), any::<u8>(), 0..4u8), 1..8).prop_map(move |edits| {
        let mut v = value.clone();
        for (at, byte, how) in edits {
            let at = at.min(v.len());
            match how {
                0 if at < v.len() => v[at] = byte,
                1 => v.truncate(at),
                2 => v.insert(at, byte),
                _ if at < v.len() => {
                    v.remove(at);
                }
                _ => {}
            }
        }
        v
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Damaged values never panic the decoder (and keep the prefix's verdict where it survives).
    #[test]
    fn damaged_protobuf_never_panics(
        value in prop::sample::select(FIXTURES.to_vec())
            .prop_flat_map(|n| damaged(fixture(&format!("{n}.pb"))))
    ) {
        let decoded = decode(&value);
        let _ = decoded.to_json();
    }

    #[test]
    fn arbitrary_bytes_after_the_magic_never_panic(tail in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut value = PROTOBUF_MAGIC.to_vec();
        value.extend(tail);
        let decoded = decode(&value);
        let kubernetes = !matches!(decoded, Decoded::Other | Decoded::Encrypted { .. });
        prop_assert!(kubernetes, "{:?}", decoded);
        let _ = decoded.to_json();
    }

    #[test]
    fn damaged_json_never_panics(value in damaged(fixture("core.v1.Pod.json"))) {
        let _ = decode(&value).to_json();
    }
}
