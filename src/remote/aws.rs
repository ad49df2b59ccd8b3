//! Where the S3 settings come from: flags, then the environment, then the shared AWS files.
//!
//! object_store reads the `AWS_*` environment itself (`AmazonS3Builder::from_env` maps every
//! `AWS_<KEY>` it knows, including `AWS_ENDPOINT_URL`, `AWS_ENDPOINT`, `AWS_REGION`,
//! `AWS_DEFAULT_REGION`, web identity and container-credential variables), but it does not read
//! `~/.aws/credentials` or `~/.aws/config`. The profile reading here follows the AWS CLI's rules:
//!
//! - the profile is `AWS_PROFILE`, else `default`;
//! - `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`) has `[name]` sections;
//! - `AWS_CONFIG_FILE` (default `~/.aws/config`) has `[profile name]` sections and `[default]`;
//! - for the same key the credentials file beats the config file;
//! - a missing file is not an error; a named (`AWS_PROFILE`) profile found in neither file is.
//!
//! Per setting, flags beat the environment and the environment beats the profile. Credentials
//! are taken as a unit: `AWS_ACCESS_KEY_ID` in the environment means the environment's keys,
//! otherwise the profile's keys, otherwise object_store's chain (web identity, ECS/EKS container
//! credentials, EC2 instance metadata).
//!
//! Everything here is pure: the environment and the files come in as arguments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Keys of one INI section, lower-cased, in file order (a later duplicate wins).
type Section = BTreeMap<String, String>;

/// The sections of an AWS-style INI file, by header text (`default`, `profile prod`, ...).
///
/// Lines starting with `#` or `;` are comments. An indented line after a key with an empty
/// value belongs to that key's nested block (`s3 =` / `  addressing_style = path`) and is
/// skipped: nested settings are not top-level settings.
pub(crate) fn parse_ini(text: &str) -> BTreeMap<String, Section> {
    let mut sections: BTreeMap<String, Section> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut in_nested = false;
    for raw in text.lines() {
        let indented = raw.starts_with(' ') || raw.starts_with('\t');
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(inner) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = inner.split_whitespace().collect::<Vec<_>>().join(" ");
            sections.entry(name.clone()).or_default();
            current = Some(name);
            in_nested = false;
            continue;
        }
        if indented && in_nested {
            continue;
        }
        let Some(section) = current.as_ref() else {
            continue;
        };
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim().to_string();
        in_nested = value.is_empty();
        if !in_nested {
            if let Some(s) = sections.get_mut(section) {
                s.insert(key, value);
            }
        }
    }
    sections
}

/// The settings of one profile that matter here. Its `Debug` leaves the secrets out.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Profile {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Profile")
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .finish()
    }
}

/// Static keys taken from a profile. Its `Debug` leaves the secrets out.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StaticKeys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for StaticKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticKeys")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Looks `name` up in the two files' texts (either may be absent). `None` if neither file has
/// the profile.
pub(crate) fn find_profile(
    name: &str,
    credentials: Option<&str>,
    config: Option<&str>,
) -> Option<Profile> {
    let from_credentials = credentials.and_then(|t| parse_ini(t).remove(name));
    let from_config = config.and_then(|t| {
        let mut sections = parse_ini(t);
        let wanted = format!("profile {name}");
        match sections.remove(&wanted) {
            Some(s) => Some(s),
            None if name == "default" => sections.remove("default"),
            None => None,
        }
    });
    if from_credentials.is_none() && from_config.is_none() {
        return None;
    }
    let get = |key: &str| {
        let pick = |s: &Option<Section>| {
            s.as_ref()
                .and_then(|s| s.get(key))
                .filter(|v| !v.is_empty())
                .cloned()
        };
        pick(&from_credentials).or_else(|| pick(&from_config))
    };
    Some(Profile {
        access_key_id: get("aws_access_key_id"),
        secret_access_key: get("aws_secret_access_key"),
        session_token: get("aws_session_token"),
        region: get("region"),
        endpoint_url: get("endpoint_url"),
    })
}

/// Where the credentials in use came from; shown in the hint of a rejected-credentials error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CredentialSource {
    /// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`) in the environment.
    Environment,
    /// Keys of a profile in the shared files.
    Profile { name: String, files: String },
    /// object_store's chain: web identity, container credentials, instance metadata.
    Chain,
}

impl std::fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialSource::Environment => f.write_str(
                "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)",
            ),
            CredentialSource::Profile { name, files } => {
                write!(f, "profile {name:?} in {files}")
            }
            CredentialSource::Chain => f.write_str(
                "the default chain (no AWS_ACCESS_KEY_ID and no keys in a profile: web identity, \
                 container credentials or EC2 instance metadata)",
            ),
        }
    }
}

/// The resolved S3 settings (before object_store's own environment handling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Settings {
    pub endpoint: Option<String>,
    pub region: String,
    /// Static keys from the profile; `None` when the environment or the chain provides them.
    pub profile_keys: Option<StaticKeys>,
    pub source: CredentialSource,
}

/// Why the settings could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResolveError {
    /// A shared file exists but cannot be read.
    Unreadable { path: PathBuf, reason: String },
    /// `AWS_PROFILE` names a profile that neither file has.
    NoSuchProfile { name: String, files: String },
    /// The profile has one of the two keys but not the other.
    HalfKeys { name: String, missing: &'static str },
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::Unreadable { path, reason } => {
                write!(f, "cannot read {}: {reason}", path.display())
            }
            ResolveError::NoSuchProfile { name, files } => {
                write!(f, "AWS_PROFILE={name}, but {files} has no such profile")
            }
            ResolveError::HalfKeys { name, missing } => {
                write!(f, "profile {name:?} has no {missing}")
            }
        }
    }
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// `~/x` under `home`; `None` for a `~/` path without a home directory.
fn expand_home(path: &str, home: Option<&str>) -> Option<PathBuf> {
    match (path.strip_prefix("~/"), home) {
        (Some(rest), Some(home)) => Some(Path::new(home).join(rest)),
        (Some(_), None) => None,
        (None, _) => Some(PathBuf::from(path)),
    }
}

/// Resolves endpoint, region and the credential source.
///
/// `env` looks up an environment variable; `read` reads a file, `Ok(None)` when it does not
/// exist. `flag_endpoint`/`flag_region` are the command-line values.
pub(crate) fn resolve(
    flag_endpoint: Option<&str>,
    flag_region: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&Path) -> Result<Option<String>, String>,
) -> Result<S3Settings, ResolveError> {
    let env = |k: &str| nonempty(env(k));
    let home = env("HOME");
    let named = env("AWS_PROFILE");
    let name = named.clone().unwrap_or_else(|| "default".to_string());
    let cred_path = expand_home(
        &env("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|| "~/.aws/credentials".to_string()),
        home.as_deref(),
    );
    let conf_path = expand_home(
        &env("AWS_CONFIG_FILE").unwrap_or_else(|| "~/.aws/config".to_string()),
        home.as_deref(),
    );
    let load = |p: &Option<PathBuf>| match p {
        Some(p) => read(p).map_err(|reason| ResolveError::Unreadable {
            path: p.to_path_buf(),
            reason,
        }),
        None => Ok(None),
    };
    let cred_text = load(&cred_path)?;
    let conf_text = load(&conf_path)?;
    let shown = |p: &Option<PathBuf>, default: &str| match p {
        Some(p) => p.display().to_string(),
        None => default.to_string(),
    };
    let files = format!(
        "{} or {}",
        shown(&cred_path, "~/.aws/credentials"),
        shown(&conf_path, "~/.aws/config")
    );
    let profile = find_profile(&name, cred_text.as_deref(), conf_text.as_deref());
    if profile.is_none() && named.is_some() {
        return Err(ResolveError::NoSuchProfile { name, files });
    }
    let profile = profile.unwrap_or_default();

    let endpoint = nonempty(flag_endpoint.map(str::to_string))
        .or_else(|| env("AWS_ENDPOINT_URL_S3"))
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .or_else(|| env("AWS_ENDPOINT"))
        .or_else(|| profile.endpoint_url.clone());
    let region = nonempty(flag_region.map(str::to_string))
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .or_else(|| profile.region.clone())
        .unwrap_or_else(|| "us-east-1".to_string());

    let (profile_keys, source) = if env("AWS_ACCESS_KEY_ID").is_some() {
        (None, CredentialSource::Environment)
    } else {
        match (&profile.access_key_id, &profile.secret_access_key) {
            (Some(id), Some(secret)) => (
                Some(StaticKeys {
                    access_key_id: id.clone(),
                    secret_access_key: secret.clone(),
                    session_token: profile.session_token.clone(),
                }),
                CredentialSource::Profile {
                    name: name.clone(),
                    files,
                },
            ),
            (Some(_), None) => {
                return Err(ResolveError::HalfKeys {
                    name,
                    missing: "aws_secret_access_key",
                })
            }
            (None, Some(_)) => {
                return Err(ResolveError::HalfKeys {
                    name,
                    missing: "aws_access_key_id",
                })
            }
            (None, None) => (None, CredentialSource::Chain),
        }
    };
    Ok(S3Settings {
        endpoint,
        region,
        profile_keys,
        source,
    })
}

/// Reads a file for [`resolve`]: `Ok(None)` if it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, String> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Environment variables that [`super::Remote`] sets itself (or deliberately leaves to the
/// profile), so object_store must not take them from the environment a second time.
pub(crate) fn handled_here(var: &str) -> bool {
    matches!(
        var,
        "AWS_ENDPOINT_URL_S3"
            | "AWS_ENDPOINT_URL"
            | "AWS_ENDPOINT"
            | "AWS_REGION"
            | "AWS_DEFAULT_REGION"
            | "AWS_BUCKET"
            | "AWS_BUCKET_NAME"
            | "AWS_VIRTUAL_HOSTED_STYLE_REQUEST"
            | "AWS_ALLOW_HTTP"
    )
}

/// Credential variables: ignored when the profile supplies the keys, so that a stray
/// `AWS_SESSION_TOKEN` is not paired with the profile's keys.
pub(crate) fn is_credential_var(var: &str) -> bool {
    matches!(
        var,
        "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" | "AWS_SESSION_TOKEN" | "AWS_TOKEN"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const CREDS: &str = "\
# comment
[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = secretdefault

[prod]
aws_access_key_id=AKIAPROD
aws_secret_access_key=secretprod
aws_session_token = tokenprod
";

    const CONFIG: &str = "\
[default]
region = eu-west-1

[profile prod]
region = eu-central-1
endpoint_url = https://minio.example:9000
s3 =
  addressing_style = path
  endpoint_url = https://nested.invalid
; another comment
[profile minio]
aws_access_key_id = AKIAMINIO
aws_secret_access_key = secretminio
endpoint_url = http://127.0.0.1:9000
";

    fn run(
        vars: &[(&str, &str)],
        files: &[(&str, &str)],
        flag_endpoint: Option<&str>,
        flag_region: Option<&str>,
    ) -> Result<S3Settings, ResolveError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let files: HashMap<PathBuf, String> = files
            .iter()
            .map(|(k, v)| (PathBuf::from(k), v.to_string()))
            .collect();
        resolve(
            flag_endpoint,
            flag_region,
            &|k| vars.get(k).cloned(),
            &|p| Ok(files.get(p).cloned()),
        )
    }

    fn keys(id: &str, secret: &str, token: Option<&str>) -> StaticKeys {
        StaticKeys {
            access_key_id: id.into(),
            secret_access_key: secret.into(),
            session_token: token.map(Into::into),
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let k = keys("AKIA1", "s3cr3t", Some("t0k3n"));
        let text = format!("{k:?}");
        assert!(text.contains("AKIA1") && !text.contains("s3cr3t") && !text.contains("t0k3n"));
        let p = find_profile("prod", Some(CREDS), None).unwrap();
        assert!(!format!("{p:?}").contains("secretprod"));
    }

    const HOME: (&str, &str) = ("HOME", "/home/op");
    const FILES: [(&str, &str); 2] = [
        ("/home/op/.aws/credentials", CREDS),
        ("/home/op/.aws/config", CONFIG),
    ];

    #[test]
    fn ini_sections_keys_and_nested_blocks() {
        let s = parse_ini(CONFIG);
        assert_eq!(s["default"]["region"], "eu-west-1");
        assert_eq!(
            s["profile prod"]["endpoint_url"], "https://minio.example:9000",
            "the nested s3 block must not override the top-level endpoint_url"
        );
        assert!(!s["profile prod"].contains_key("addressing_style"));
        assert!(!s["profile prod"].contains_key("s3"));
        assert_eq!(s["profile minio"]["aws_access_key_id"], "AKIAMINIO");
    }

    #[test]
    fn default_profile_from_files() {
        let r = run(&[HOME], &FILES, None, None).unwrap();
        assert_eq!(r.region, "eu-west-1");
        assert_eq!(r.endpoint, None);
        assert_eq!(
            r.profile_keys,
            Some(keys("AKIADEFAULT", "secretdefault", None))
        );
        assert!(
            matches!(r.source, CredentialSource::Profile { ref name, .. } if name == "default")
        );
    }

    #[test]
    fn named_profile_merges_credentials_and_config() {
        let r = run(&[HOME, ("AWS_PROFILE", "prod")], &FILES, None, None).unwrap();
        assert_eq!(r.region, "eu-central-1");
        assert_eq!(r.endpoint.as_deref(), Some("https://minio.example:9000"));
        assert_eq!(
            r.profile_keys,
            Some(keys("AKIAPROD", "secretprod", Some("tokenprod")))
        );
        // Keys only in the config file count too.
        let r = run(&[HOME, ("AWS_PROFILE", "minio")], &FILES, None, None).unwrap();
        assert_eq!(r.profile_keys.unwrap().access_key_id, "AKIAMINIO");
        assert_eq!(r.region, "us-east-1");
    }

    #[test]
    fn env_beats_profile_and_flags_beat_env() {
        let vars = [
            HOME,
            ("AWS_PROFILE", "prod"),
            ("AWS_ACCESS_KEY_ID", "AKIAENV"),
            ("AWS_SECRET_ACCESS_KEY", "secretenv"),
            ("AWS_REGION", "ap-south-1"),
            ("AWS_ENDPOINT_URL", "http://env.example:8333"),
        ];
        let r = run(&vars, &FILES, None, None).unwrap();
        assert_eq!(r.source, CredentialSource::Environment);
        assert_eq!(r.profile_keys, None);
        assert_eq!(r.region, "ap-south-1");
        assert_eq!(r.endpoint.as_deref(), Some("http://env.example:8333"));

        let r = run(&vars, &FILES, Some("http://flag:1"), Some("flag-region")).unwrap();
        assert_eq!(r.endpoint.as_deref(), Some("http://flag:1"));
        assert_eq!(r.region, "flag-region");
    }

    #[test]
    fn region_and_endpoint_fallback_order() {
        let r = run(
            &[HOME, ("AWS_DEFAULT_REGION", "ca-central-1")],
            &FILES,
            None,
            None,
        )
        .unwrap();
        assert_eq!(r.region, "ca-central-1");
        let r = run(
            &[
                HOME,
                ("AWS_DEFAULT_REGION", "ca-central-1"),
                ("AWS_REGION", "sa-east-1"),
                ("AWS_ENDPOINT", "http://old-style:1"),
                ("AWS_ENDPOINT_URL_S3", "http://s3-specific:2"),
            ],
            &FILES,
            None,
            None,
        )
        .unwrap();
        assert_eq!(r.region, "sa-east-1");
        assert_eq!(r.endpoint.as_deref(), Some("http://s3-specific:2"));
        // Empty values count as unset.
        let r = run(&[HOME, ("AWS_REGION", "")], &[], Some(""), None).unwrap();
        assert_eq!(r.region, "us-east-1");
        assert_eq!(r.endpoint, None);
    }

    #[test]
    fn no_files_no_env_means_the_chain() {
        let r = run(&[HOME], &[], None, None).unwrap();
        assert_eq!(r.source, CredentialSource::Chain);
        assert_eq!(r.profile_keys, None);
        assert_eq!(r.region, "us-east-1");
        // Without HOME the default files are not looked for.
        let r = run(&[], &FILES, None, None).unwrap();
        assert_eq!(r.source, CredentialSource::Chain);
    }

    #[test]
    fn file_locations_from_env() {
        let r = run(
            &[
                HOME,
                ("AWS_SHARED_CREDENTIALS_FILE", "/etc/etcd-backup/aws-creds"),
                ("AWS_CONFIG_FILE", "~/other-config"),
            ],
            &[
                ("/etc/etcd-backup/aws-creds", CREDS),
                ("/home/op/other-config", "[default]\nregion = us-west-2\n"),
            ],
            None,
            None,
        )
        .unwrap();
        assert_eq!(r.region, "us-west-2");
        assert_eq!(r.profile_keys.unwrap().access_key_id, "AKIADEFAULT");
    }

    #[test]
    fn missing_named_profile_and_half_keys_are_errors() {
        let e = run(&[HOME, ("AWS_PROFILE", "nope")], &FILES, None, None).unwrap_err();
        assert!(matches!(e, ResolveError::NoSuchProfile { ref name, .. } if name == "nope"));
        assert!(e.to_string().contains("/home/op/.aws/credentials"));
        let e = run(
            &[HOME],
            &[(
                "/home/op/.aws/credentials",
                "[default]\naws_access_key_id = A\n",
            )],
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(
            e,
            ResolveError::HalfKeys {
                name: "default".into(),
                missing: "aws_secret_access_key"
            }
        );
    }

    #[test]
    fn unreadable_file_names_its_path() {
        let e = resolve(None, None, &|k| (k == "HOME").then(|| "/h".into()), &|_| {
            Err("Permission denied (os error 13)".into())
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read /h/.aws/credentials: Permission denied (os error 13)"
        );
    }
}
