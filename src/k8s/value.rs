//! How the API server stored a value (docs/formats.md §10.2): the protobuf envelope
//! (`k8s\0` then a `runtime.Unknown`), JSON, or encrypted at rest
//! (`k8s:enc:<provider>:<version>:<key name>:` then ciphertext). Encrypted values are never
//! decoded further; nothing here panics on any input.

/// What a value is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Storage {
    /// `k8s\0` + `runtime.Unknown` protobuf.
    Protobuf,
    /// Looks like a JSON object (CRDs, older clusters, `--storage-media-type=application/json`).
    Json,
    /// Encrypted at rest by an EncryptionConfiguration provider.
    Encrypted {
        provider: String,
        /// `v1` for aescbc/aesgcm/secretbox/kms v1, `v2` for kms v2.
        version: String,
        key_name: String,
    },
    /// Empty.
    Empty,
    /// Anything else (not written by the API server).
    Other,
}

/// The envelope of protobuf values (`k8s.io/apimachinery/pkg/runtime/serializer/protobuf`).
pub(crate) const PROTOBUF_MAGIC: &[u8] = b"k8s\0";
/// The prefix of encrypted values (`k8s.io/apiserver/pkg/storage/value/encrypt`).
pub(crate) const ENCRYPTED_PREFIX: &[u8] = b"k8s:enc:";

/// Longest provider, version or key name accepted (an EncryptionConfiguration name).
const MAX_PART: usize = 253;

pub(crate) fn classify(value: &[u8]) -> Storage {
    if value.is_empty() {
        return Storage::Empty;
    }
    if value.starts_with(PROTOBUF_MAGIC) {
        return Storage::Protobuf;
    }
    if let Some(rest) = value.strip_prefix(ENCRYPTED_PREFIX) {
        let mut parts = rest.splitn(4, |b| *b == b':');
        let part = |p: Option<&[u8]>| {
            p.filter(|p| p.len() <= MAX_PART)
                .and_then(|p| std::str::from_utf8(p).ok())
                .map(str::to_string)
        };
        let (provider, version, key_name) =
            (part(parts.next()), part(parts.next()), part(parts.next()));
        // The key name is followed by `:` and the ciphertext.
        return match (provider, version, key_name, parts.next()) {
            (Some(provider), Some(version), Some(key_name), Some(_)) if !provider.is_empty() => {
                Storage::Encrypted {
                    provider,
                    version,
                    key_name,
                }
            }
            _ => Storage::Encrypted {
                provider: "?".into(),
                version: "?".into(),
                key_name: "?".into(),
            },
        };
    }
    // What it starts with, not a full parse: inspect classifies every version kept.
    if value.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return Storage::Json;
    }
    Storage::Other
}

impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::Protobuf => f.write_str("protobuf"),
            Storage::Json => f.write_str("json"),
            Storage::Encrypted {
                provider,
                version,
                key_name,
            } => write!(f, "encrypted:{provider}:{version}:{key_name}"),
            Storage::Empty => f.write_str("empty"),
            Storage::Other => f.write_str("other"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn kinds() {
        assert_eq!(
            classify(b"k8s\0\x0a\x0d\x0a\x02v1\x12\x03Pod"),
            Storage::Protobuf
        );
        assert_eq!(classify(br#"{"kind":"CronTab"}"#), Storage::Json);
        assert_eq!(classify(br#"  {"a":1}"#), Storage::Json);
        assert_eq!(classify(b"[1]"), Storage::Other);
        assert_eq!(classify(b""), Storage::Empty);
        assert_eq!(
            classify(b"k8s:enc:aescbc:v1:key1:\x00\x01\xff"),
            Storage::Encrypted {
                provider: "aescbc".into(),
                version: "v1".into(),
                key_name: "key1".into()
            }
        );
        assert_eq!(
            classify(b"k8s:enc:kms:v2:vault:\x0a\x01"),
            Storage::Encrypted {
                provider: "kms".into(),
                version: "v2".into(),
                key_name: "vault".into()
            }
        );
        assert_eq!(classify(b"k8s:enc:aescbc").to_string(), "encrypted:?:?:?");
        assert_eq!(classify(b"plain text"), Storage::Other);
    }

    proptest! {
        /// Damaged values never panic, whatever prefix they keep.
        #[test]
        fn damaged_values_never_panic(
            prefix in prop::sample::select(vec![&b""[..], b"k8s\0", b"k8s:enc:", b"k8s:enc:aescbc:v1:", b"{"]),
            tail in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut v = prefix.to_vec();
            v.extend_from_slice(&tail);
            let _ = classify(&v).to_string();
        }
    }
}
