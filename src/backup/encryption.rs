//! Whether a backup's Secrets could be read after a restore: the keys its values were encrypted
//! at rest with (`k8s:enc:<provider>:<version>:<key name>:`, counted by the verify walk) against
//! the kube-apiserver's EncryptionConfiguration saved in its DR bundle (`save --with-pki`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use serde_norway::Value;

use crate::backup::catalog::BundleRecord;
use crate::backup::layers::{self, Layers};

/// The most of an EncryptionConfiguration read from a bundle.
const MAX_CONFIG: u64 = 1 << 20;

/// What the check found, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// `provider:key name` of every key in use, with its count of values.
    pub used: BTreeMap<String, u64>,
    /// `checked`, `no-bundle`, `no-config` (the bundle has none recorded) or `unreadable`.
    pub bundle: &'static str,
    /// Keys in use that the bundled config does not hold.
    pub missing: Vec<String>,
    /// What the operator should know, one line each.
    pub warnings: Vec<String>,
}

/// The names of the keys an EncryptionConfiguration holds, as `provider:name`: the `keys` of
/// `aescbc`, `aesgcm` and `secretbox`, and the `name` of `kms` (v1 and v2 values carry it).
pub(crate) fn configured_keys(yaml: &[u8]) -> Result<BTreeSet<String>, String> {
    let doc: Value = serde_norway::from_slice(yaml).map_err(|e| format!("not YAML: {e}"))?;
    if doc.get("kind").and_then(Value::as_str) != Some("EncryptionConfiguration") {
        return Err("not a kind: EncryptionConfiguration".to_string());
    }
    let mut keys = BTreeSet::new();
    let seq = |v: Option<&Value>| v.and_then(Value::as_sequence).cloned().unwrap_or_default();
    for resource in seq(doc.get("resources")) {
        for provider in seq(resource.get("providers")) {
            let Some(map) = provider.as_mapping() else {
                continue;
            };
            for (name, body) in map {
                let Some(name) = name.as_str() else { continue };
                match name {
                    "kms" => {
                        if let Some(n) = body.get("name").and_then(Value::as_str) {
                            keys.insert(format!("kms:{n}"));
                        }
                    }
                    _ => {
                        for k in seq(body.get("keys")) {
                            if let Some(n) = k.get("name").and_then(Value::as_str) {
                                keys.insert(format!("{name}:{n}"));
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(keys)
}

/// `used` (`provider:version:key` → count, from the walk) against the bundle recorded in the
/// sidecar, read from beside `backup` (a local file) through its layers.
pub(crate) fn check(
    backup: &Path,
    used: &BTreeMap<String, u64>,
    bundle: Option<&BundleRecord>,
    identities: &[age::x25519::Identity],
) -> Option<Finding> {
    if used.is_empty() {
        return None;
    }
    let used: BTreeMap<String, u64> = used
        .iter()
        .map(|(k, n)| {
            let mut parts = k.splitn(3, ':');
            let provider = parts.next().unwrap_or("?");
            let _version = parts.next();
            let key = parts.next().unwrap_or("?");
            (format!("{provider}:{key}"), *n)
        })
        .fold(BTreeMap::new(), |mut m, (k, n)| {
            *m.entry(k).or_default() += n;
            m
        });
    let list = used
        .iter()
        .map(|(k, n)| format!("{k} ({n})"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut f = Finding {
        used: used.clone(),
        bundle: "checked",
        missing: Vec::new(),
        warnings: Vec::new(),
    };
    let Some(record) = bundle else {
        f.bundle = "no-bundle";
        f.warnings.push(format!(
            "{}: values are encrypted at rest with {list}, and no DR bundle was saved with it: \
             keep the kube-apiserver's encryption config safe elsewhere, or save with --with-pki",
            backup.display()
        ));
        return Some(f);
    };
    let Some(archive) = &record.encryption_config else {
        f.bundle = "no-config";
        f.warnings.push(format!(
            "{}: values are encrypted at rest with {list}, and its DR bundle {} holds no \
             encryption config (the kube-apiserver manifest named none when it was saved)",
            backup.display(),
            record.file
        ));
        return Some(f);
    };
    let path = backup.with_file_name(&record.file);
    let configured = match read_entry(&path, archive, identities).and_then(|y| configured_keys(&y))
    {
        Ok(c) => c,
        Err(why) => {
            f.bundle = "unreadable";
            f.warnings.push(format!(
                "{}: values are encrypted at rest with {list}; the encryption config {archive} in \
                 {} could not be read ({why}), so whether it holds those keys is not known",
                backup.display(),
                path.display()
            ));
            return Some(f);
        }
    };
    f.missing = used
        .keys()
        .filter(|k| !configured.contains(*k))
        .cloned()
        .collect();
    if !f.missing.is_empty() {
        f.warnings.push(format!(
            "{}: values are encrypted with {} but the encryption config in its DR bundle ({}) \
             does not hold that key: after a restore those Secrets could not be decrypted",
            backup.display(),
            f.missing.join(", "),
            path.display()
        ));
    }
    Some(f)
}

/// The archive entry `archive` of the bundle at `path`, through its layers.
fn read_entry(
    path: &Path,
    archive: &str,
    identities: &[age::x25519::Identity],
) -> Result<Vec<u8>, String> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let layers: Layers = Layers::strip(&name).1;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let plain = layers::decoder(file, layers, identities, &name).map_err(|e| e.to_string())?;
    let mut tar = tar::Archive::new(plain);
    for entry in tar.entries().map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        let at = entry.path().map_err(|e| e.to_string())?.into_owned();
        if at == Path::new(archive) {
            let mut bytes = Vec::new();
            entry
                .take(MAX_CONFIG)
                .read_to_end(&mut bytes)
                .map_err(|e| e.to_string())?;
            return Ok(bytes);
        }
    }
    Err(format!("the bundle has no {archive}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets, configmaps]
    providers:
      - aescbc:
          keys:
            - name: key2
              secret: c2VjcmV0IGlzIHNlY3VyZSwgb3IgaXMgaXQ/Cg==
            - name: key1
              secret: dGhpcyBpcyBwYXNzd29yZAo=
      - kms:
          apiVersion: v2
          name: vault
          endpoint: unix:///var/run/kms.sock
      - identity: {}
";

    #[test]
    fn the_keys_of_an_encryption_configuration() {
        let keys = configured_keys(CONFIG.as_bytes()).unwrap();
        let want: BTreeSet<String> = ["aescbc:key1", "aescbc:key2", "kms:vault"]
            .map(String::from)
            .into();
        assert_eq!(keys, want);
        assert!(configured_keys(b"kind: Pod\n").is_err());
        assert!(configured_keys(b"\x00\xff").is_err());
    }

    #[test]
    fn without_a_bundle_or_with_a_key_missing_it_is_said() {
        let used: BTreeMap<String, u64> = [("aescbc:v1:key1".to_string(), 3)].into();
        let f = check(Path::new("/b/s.db"), &used, None, &[]).unwrap();
        assert_eq!(f.bundle, "no-bundle");
        assert!(
            f.warnings[0].contains("aescbc:key1 (3)"),
            "{:?}",
            f.warnings
        );
        assert!(check(Path::new("/b/s.db"), &BTreeMap::new(), None, &[]).is_none());
    }
}
