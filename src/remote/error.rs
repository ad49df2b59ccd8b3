//! What went wrong with a remote, in words an operator can act on.
//!
//! object_store reports HTTP failures as a status plus the response body; S3-style stores put
//! an XML `<Code>` in that body (`SignatureDoesNotMatch`, `InvalidAccessKeyId`, `AccessDenied`,
//! `NoSuchBucket`, ...). [`classify`] turns those into the variants below. A HEAD has no body,
//! so a HEAD answered 403 is classed by its status alone.

use std::fmt;
use std::io;
use std::time::Duration;

/// Which kind of store a remote is; decides the wording of hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    S3,
    Gcs,
    Azure,
    File,
}

/// The operation that failed: messages read "cannot {op} {url}".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    List,
    Upload,
    Write,
    Read,
    Delete,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::List => "list",
            Op::Upload => "upload to",
            Op::Write => "write",
            Op::Read => "read",
            Op::Delete => "delete",
        })
    }
}

/// The store's own words for a failure, with query strings (signatures, SAS tokens) removed
/// from any URL it contains.
#[derive(Debug)]
pub struct StoreFailure(String);

impl StoreFailure {
    pub(crate) fn new(text: String) -> StoreFailure {
        StoreFailure(redact_queries(&text))
    }
}

impl fmt::Display for StoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreFailure {}

/// A failure of a remote operation. Every message names the full URL of the object or prefix
/// (`s3://bucket/prefix/node1/file.db`) and never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("invalid remote URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("invalid object key {key:?} under {url}: {reason}")]
    BadKey {
        url: String,
        key: String,
        reason: String,
    },
    #[error("cannot set up {url}: {reason}")]
    Config {
        url: String,
        reason: String,
        hint: Option<String>,
    },
    #[error("cannot start the async runtime for {url}")]
    Runtime {
        url: String,
        #[source]
        source: io::Error,
    },
    #[error("{url} already exists; refusing to overwrite it")]
    Exists { url: String },
    #[error("{url} does not exist")]
    NotFound { url: String },
    #[error("{url} is {size} bytes, more than the {limit} bytes allowed for a small object")]
    TooLarge { url: String, size: u64, limit: u64 },
    #[error("cannot {op} {url}: the store rejected the credentials ({code})")]
    Credentials {
        op: Op,
        url: String,
        code: String,
        scheme: Scheme,
        /// Where the credentials in use came from.
        creds: String,
        #[source]
        source: StoreFailure,
    },
    #[error("cannot {op} {url}: no credentials could be obtained")]
    NoCredentials {
        op: Op,
        url: String,
        scheme: Scheme,
        #[source]
        source: StoreFailure,
    },
    #[error("cannot {op} {url}: bucket {bucket:?} does not exist at {endpoint}")]
    NoSuchBucket {
        op: Op,
        url: String,
        bucket: String,
        endpoint: String,
        #[source]
        source: StoreFailure,
    },
    #[error("cannot {op} {url}: no connection to {endpoint}")]
    Unreachable {
        op: Op,
        url: String,
        endpoint: String,
        scheme: Scheme,
        #[source]
        source: StoreFailure,
    },
    #[error("cannot {op} {url}: {endpoint} did not answer within {timeout:?}")]
    TimedOut {
        op: Op,
        url: String,
        endpoint: String,
        timeout: Duration,
        #[source]
        source: StoreFailure,
    },
    #[error("cannot {op} {url}")]
    Store {
        op: Op,
        url: String,
        #[source]
        source: StoreFailure,
    },
    #[error("cannot upload to {url}: reading the data to upload failed after {offset} bytes")]
    Source {
        url: String,
        offset: u64,
        #[source]
        source: io::Error,
    },
    #[error("cannot {op} {url}")]
    Io {
        op: Op,
        url: String,
        #[source]
        source: io::Error,
    },
    #[error("{url} holds {stored} bytes after the upload, but {sent} bytes were sent")]
    SizeMismatch { url: String, stored: u64, sent: u64 },
    #[error("reading {url} ended after {got} of its {expected} bytes")]
    Truncated {
        url: String,
        got: u64,
        expected: u64,
    },
}

impl RemoteError {
    /// Advice for the operator, where there is some: which variables, files or flags to check.
    pub fn hint(&self) -> Option<String> {
        match self {
            RemoteError::BadUrl { .. } => Some(
                "use s3://bucket[/prefix], gs://bucket[/prefix], az://container[/prefix] or \
                 file:///absolute/dir; credentials go in the environment, never in the URL"
                    .into(),
            ),
            RemoteError::Config { hint, .. } => hint.clone(),
            RemoteError::Exists { .. } => Some(
                "backup names are never reused; if this object is a leftover of an earlier run, \
                 delete it first"
                    .into(),
            ),
            RemoteError::Credentials { scheme, creds, .. } => Some(match scheme {
                Scheme::S3 => format!(
                    "the credentials came from {creds}; check the access key and secret \
                     (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or AWS_PROFILE \
                     with ~/.aws/credentials), that they may use this bucket, and that the \
                     region (--remote-region, AWS_REGION) is the bucket's"
                ),
                Scheme::Gcs => "check GOOGLE_APPLICATION_CREDENTIALS (or GOOGLE_SERVICE_ACCOUNT) \
                     and that the account may use this bucket"
                    .into(),
                Scheme::Azure => "check AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY \
                     (or AZURE_STORAGE_SAS_TOKEN, or AZURE_CLIENT_ID/AZURE_CLIENT_SECRET/\
                     AZURE_TENANT_ID) and that they may use this container"
                    .into(),
                Scheme::File => "check the permissions of the directory".into(),
            }),
            RemoteError::NoCredentials { scheme, .. } => Some(match scheme {
                Scheme::S3 => "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE \
                     with keys in ~/.aws/credentials; on EC2 or EKS check the instance profile \
                     or the service account's role"
                    .into(),
                Scheme::Gcs => "set GOOGLE_APPLICATION_CREDENTIALS to a service account key file, \
                     or run where the metadata server grants a service account"
                    .into(),
                Scheme::Azure => "set AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY \
                     (or a SAS token, or a service principal)"
                    .into(),
                Scheme::File => "check the permissions of the directory".into(),
            }),
            RemoteError::NoSuchBucket { .. } => Some(
                "create the bucket, or fix its name in the URL; with --remote-endpoint, check \
                 that it points at the right store"
                    .into(),
            ),
            RemoteError::Unreachable { scheme, .. } => {
                let setting = match scheme {
                    Scheme::S3 => "--remote-endpoint (or AWS_ENDPOINT_URL)",
                    Scheme::Gcs => {
                        "--remote-endpoint (or GOOGLE_BASE_URL, or gcs_base_url in the service \
                         account key file)"
                    }
                    Scheme::Azure => {
                        "--remote-endpoint (or AZURE_STORAGE_ENDPOINT, or AZURITE_BLOB_STORAGE_URL \
                         with AZURE_STORAGE_USE_EMULATOR)"
                    }
                    Scheme::File => "--remote-endpoint",
                };
                Some(format!(
                    "check {setting}, that the store is up, and that this host can reach it \
                     (firewall, HTTPS_PROXY/NO_PROXY)"
                ))
            }
            RemoteError::TimedOut { .. } => Some(
                "the store or the network is slow or stalled; try again later, or raise the \
                 remote timeout"
                    .into(),
            ),
            RemoteError::Store { source, .. }
                if [
                    "InternalError",
                    "SlowDown",
                    "ServiceUnavailable",
                    "503",
                    "500",
                ]
                .iter()
                .any(|m| source.0.contains(m)) =>
            {
                Some("the store reported a temporary failure; try again later".into())
            }
            RemoteError::TooLarge { .. } => {
                Some("this object is not a sidecar written by etcd-backup; check the key".into())
            }
            _ => None,
        }
    }

    /// True for [`RemoteError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, RemoteError::NotFound { .. })
    }
}

/// What [`classify`] needs to know about the remote.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub scheme: Scheme,
    pub bucket: String,
    /// The store's address as the operator knows it (`http://127.0.0.1:8333`,
    /// `https://s3.eu-west-1.amazonaws.com`).
    pub endpoint: String,
    /// Where the credentials came from (for the hint).
    pub creds: String,
    pub timeout: Duration,
}

/// S3/Azure error codes that mean "these credentials are not accepted here".
const CREDENTIAL_CODES: &[&str] = &[
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
    "AuthorizationHeaderMalformed",
    "InvalidSecurity",
    "AuthenticationFailed",
    "AuthorizationFailure",
    "AuthorizationPermissionMismatch",
    "InsufficientAccountPermissions",
];

const BUCKET_CODES: &[&str] = &["NoSuchBucket", "ContainerNotFound"];

/// Text that only appears when fetching credentials failed (instance metadata, container
/// credentials, web identity, OAuth token endpoints), not when the store itself answered.
const CREDENTIAL_FETCH_MARKS: &[&str] = &[
    "169.254.169.254",
    "169.254.170.2",
    "AssumeRoleWithWebIdentity",
    "security-credentials",
    "token file",
    "Error performing token request",
    "Error getting token response",
    "service account file",
];

/// Turns an object_store error into a [`RemoteError`] for `op` on `url`.
pub(crate) fn classify(err: object_store::Error, op: Op, url: &str, ctx: &Context) -> RemoteError {
    let text = chain_text(&err);
    let code = xml_tag(&text, "Code");
    let failure = || StoreFailure(describe(&text, code.as_deref()));
    let url = url.to_string();
    if let Some(c) = code.as_deref() {
        if BUCKET_CODES.contains(&c) {
            return RemoteError::NoSuchBucket {
                op,
                url,
                bucket: ctx.bucket.clone(),
                endpoint: ctx.endpoint.clone(),
                source: failure(),
            };
        }
        if CREDENTIAL_CODES.contains(&c) {
            return RemoteError::Credentials {
                op,
                url,
                code: c.to_string(),
                scheme: ctx.scheme,
                creds: ctx.creds.clone(),
                source: failure(),
            };
        }
    }
    // GCS answers JSON: {"error": {"code": 404, "message": "The specified bucket does not exist."}}
    if text.contains("bucket does not exist") {
        return RemoteError::NoSuchBucket {
            op,
            url,
            bucket: ctx.bucket.clone(),
            endpoint: ctx.endpoint.clone(),
            source: failure(),
        };
    }
    match &err {
        object_store::Error::NotFound { .. } => return RemoteError::NotFound { url },
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            return RemoteError::Exists { url }
        }
        object_store::Error::PermissionDenied { .. } => {
            return RemoteError::Credentials {
                op,
                url,
                code: "HTTP 403 Forbidden".into(),
                scheme: ctx.scheme,
                creds: ctx.creds.clone(),
                source: failure(),
            }
        }
        object_store::Error::Unauthenticated { .. } => {
            return RemoteError::Credentials {
                op,
                url,
                code: "HTTP 401 Unauthorized".into(),
                scheme: ctx.scheme,
                creds: ctx.creds.clone(),
                source: failure(),
            }
        }
        _ => {}
    }
    if CREDENTIAL_FETCH_MARKS.iter().any(|m| text.contains(m)) {
        return RemoteError::NoCredentials {
            op,
            url,
            scheme: ctx.scheme,
            source: failure(),
        };
    }
    match http_kind(&err) {
        Some(object_store::client::HttpErrorKind::Connect) => RemoteError::Unreachable {
            op,
            url,
            endpoint: ctx.endpoint.clone(),
            scheme: ctx.scheme,
            source: failure(),
        },
        Some(object_store::client::HttpErrorKind::Timeout) => RemoteError::TimedOut {
            op,
            url,
            endpoint: ctx.endpoint.clone(),
            timeout: ctx.timeout,
            source: failure(),
        },
        _ => RemoteError::Store {
            op,
            url,
            source: failure(),
        },
    }
}

/// The kind of the innermost HTTP error in the chain, if any.
fn http_kind(
    err: &(dyn std::error::Error + 'static),
) -> Option<object_store::client::HttpErrorKind> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut kind = None;
    while let Some(e) = cur {
        if let Some(h) = e.downcast_ref::<object_store::client::HttpError>() {
            kind = Some(h.kind());
        }
        cur = e.source();
    }
    kind
}

/// The error and every cause not already spelled out in the text before it.
fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let t = e.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cur = e.source();
    }
    text
}

/// The text between `<tag>` and `</tag>`, if present.
fn xml_tag(text: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find(&close)?;
    let v = text[start..start + len].trim();
    (!v.is_empty()).then(|| v.to_string())
}

/// A short description: the store's code and message when it sent them, else the whole chain,
/// cut to a readable length. Query strings of URLs are removed in both cases.
fn describe(text: &str, code: Option<&str>) -> String {
    let out = match (code, xml_tag(text, "Message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => text.to_string(),
    };
    let mut out = redact_queries(&out);
    if out.len() > 600 {
        let mut cut = 600;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// Replaces the query string of every http(s) URL in `text` with `?…`: presigned URLs and SAS
/// tokens carry secrets there.
pub(crate) fn redact_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("http") {
        let (before, tail) = rest.split_at(pos);
        out.push_str(before);
        if !(tail.starts_with("http://") || tail.starts_with("https://")) {
            out.push_str("http");
            rest = &tail[4..];
            continue;
        }
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')'))
            .unwrap_or(tail.len());
        let url = &tail[..end];
        match url.find('?') {
            Some(q) => {
                out.push_str(&url[..q]);
                out.push_str("?…");
            }
            None => out.push_str(url),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            scheme: Scheme::S3,
            bucket: "backups".into(),
            endpoint: "http://127.0.0.1:8333".into(),
            creds: "the environment".into(),
            timeout: Duration::from_secs(60),
        }
    }

    fn generic(body: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: format!("Server returned non-2xx status code: 403 Forbidden: {body}").into(),
        }
    }

    #[test]
    fn signature_mismatch_is_a_credentials_error_with_a_hint() {
        let body = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>\
                    <Message>The request signature we calculated does not match.</Message>\
                    <StringToSign>AWS4-HMAC-SHA256 secret-ish</StringToSign></Error>";
        let e = classify(generic(body), Op::Upload, "s3://backups/n1/f.db", &ctx());
        assert_eq!(
            e.to_string(),
            "cannot upload to s3://backups/n1/f.db: the store rejected the credentials \
             (SignatureDoesNotMatch)"
        );
        let cause = std::error::Error::source(&e).unwrap().to_string();
        assert_eq!(
            cause,
            "SignatureDoesNotMatch: The request signature we calculated does not match."
        );
        assert!(e.hint().unwrap().contains("AWS_SECRET_ACCESS_KEY"));
        assert!(e.hint().unwrap().contains("the environment"));
    }

    #[test]
    fn no_such_bucket_and_not_found() {
        let e = classify(
            object_store::Error::NotFound {
                path: "x".into(),
                source: "404 Not Found: <Error><Code>NoSuchBucket</Code></Error>".into(),
            },
            Op::Read,
            "s3://backups/x",
            &ctx(),
        );
        assert!(matches!(e, RemoteError::NoSuchBucket { .. }), "{e:?}");
        assert!(e
            .to_string()
            .contains("bucket \"backups\" does not exist at http://127.0.0.1:8333"));
        let e = classify(
            object_store::Error::NotFound {
                path: "x".into(),
                source: "404 Not Found: <Error><Code>NoSuchKey</Code></Error>".into(),
            },
            Op::Read,
            "s3://backups/x",
            &ctx(),
        );
        assert!(e.is_not_found());
        assert_eq!(e.to_string(), "s3://backups/x does not exist");
    }

    #[test]
    fn head_403_without_body_is_a_credentials_error() {
        let e = classify(
            object_store::Error::PermissionDenied {
                path: "x".into(),
                source: "403 Forbidden".into(),
            },
            Op::Upload,
            "s3://backups/x",
            &ctx(),
        );
        assert!(
            matches!(e, RemoteError::Credentials { ref code, .. } if code == "HTTP 403 Forbidden")
        );
    }

    #[test]
    fn instance_metadata_failure_is_no_credentials() {
        let e = classify(
            object_store::Error::Generic {
                store: "S3",
                source: "Error performing PUT http://169.254.169.254/latest/api/token in 1s".into(),
            },
            Op::List,
            "s3://backups/",
            &ctx(),
        );
        assert!(matches!(e, RemoteError::NoCredentials { .. }), "{e:?}");
        assert!(e.hint().unwrap().contains("AWS_ACCESS_KEY_ID"));
    }

    #[test]
    fn query_strings_are_redacted() {
        assert_eq!(
            redact_queries(
                "GET https://a.blob.core.windows.net/c/k?sv=1&sig=SECRET failed; see http://x/y"
            ),
            "GET https://a.blob.core.windows.net/c/k?… failed; see http://x/y"
        );
        assert_eq!(redact_queries("no url; httpx"), "no url; httpx");
        let e = classify(
            object_store::Error::Generic {
                store: "S3",
                source: "Error performing GET http://h/b?X-Amz-Signature=abc in 1s - boom".into(),
            },
            Op::Read,
            "s3://b/k",
            &ctx(),
        );
        let cause = std::error::Error::source(&e).unwrap().to_string();
        assert!(!cause.contains("abc"), "{cause}");
    }

    #[test]
    fn xml_tags() {
        assert_eq!(xml_tag("a<Code>X</Code>b", "Code").as_deref(), Some("X"));
        assert_eq!(xml_tag("a<Code></Code>b", "Code"), None);
        assert_eq!(xml_tag("<Code>X", "Code"), None);
    }
}
