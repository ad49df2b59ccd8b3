//! What really listens at an endpoint that failed, so the error names the mistake rather than
//! the transport's symptom.
//!
//! What etcd 3.4.23 and 3.5.1, started with kubeadm's flags, do with the usual mistakes (the
//! gRPC client sees "broken pipe" or "connection closed" in every one of these cases, which on its
//! own reads like a rejected client certificate):
//!
//! - `http://` to the TLS client port (2379): etcd's TLS listener reads a first record that is
//!   not a handshake, logs `rejected connection … tls: first record does not look like a TLS
//!   handshake` and closes without a word. A TLS ClientHello sent to the same port is answered
//!   with a ServerHello (a TLS record), which is how we tell.
//! - The peer port (2380), `https://`: the TLS handshake with kubeadm's `server.crt` succeeds
//!   (the peer listener trusts the same etcd CA, and the certificate has the clientAuth usage).
//!   etcd's cmux then hands the HTTP/2 connection to a gRPC server that expects a second TLS
//!   handshake (`grpc: Server.Serve failed to complete security handshake … first record does not
//!   look like a TLS handshake`) and closes it. HTTP/1.1 `GET /members` on the same connection
//!   reaches the peer handler, which answers 200 with the member list (JSON objects with
//!   `peerURLs` and `clientURLs`); the client port answers that path with 404.
//! - The peer port, `http://`: both of the above.
//! - A peer listener that rejects our certificate leaves only the port number: 2380 is etcd's
//!   default peer port.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::{MemberInfo, TlsFiles};

/// etcd's default peer port.
const PEER_PORT: u16 = 2380;

/// A misdirected endpoint, and what it is instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Misdirected {
    pub endpoint: String,
    /// The endpoint says `http://` but the server speaks TLS.
    pub speaks_tls: bool,
    /// The server is etcd's peer listener.
    pub peer: Option<PeerPort>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerPort {
    /// How we know: the member list it answered with, or only the port number.
    pub answered_members: bool,
    /// The client URLs of the member behind this peer URL, from that list.
    pub client_urls: Vec<String>,
}

impl std::fmt::Display for Misdirected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ep = &self.endpoint;
        match (&self.peer, self.speaks_tls) {
            (Some(p), tls) if p.answered_members => write!(
                f,
                "{ep} is etcd's peer port, not its client port (it answered /members with the \
                 member list){}",
                if tls {
                    ", and it speaks TLS, not plain http://"
                } else {
                    ""
                }
            ),
            (Some(_), tls) => write!(
                f,
                "{ep} looks like etcd's peer port ({PEER_PORT}), not its client port{}",
                if tls {
                    "; it speaks TLS, not plain http://"
                } else {
                    ""
                }
            ),
            (None, _) => write!(f, "{ep} speaks TLS, but the endpoint says http://"),
        }
    }
}

impl Misdirected {
    pub(crate) fn hint(&self) -> String {
        let https = https_of(&self.endpoint);
        match &self.peer {
            Some(p) if !p.client_urls.is_empty() => format!(
                "this is etcd's peer port; the client port is usually 2379, and this member's \
                 client URL is {}: pass --endpoints {}",
                p.client_urls.join(","),
                p.client_urls[0]
            ),
            Some(_) => "this looks like etcd's peer port; the client port is usually 2379 (see \
                        --listen-client-urls in the etcd manifest)"
                .to_string(),
            None => format!("the endpoint speaks TLS; use https:// (--endpoints {https})"),
        }
    }
}

/// The member list a peer listener answers `GET /members` with (it needs no quorum): how a node
/// whose own etcd is down finds the other members' client URLs from the peer URLs of its
/// manifest's `--initial-cluster`. `None` when nothing there answers with a member list.
pub(crate) fn members_via_peer(
    peer_url: &str,
    tls: &TlsFiles,
    timeout: Duration,
) -> Option<Vec<MemberInfo>> {
    let uri: tonic::codegen::http::Uri = peer_url.parse().ok()?;
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(PEER_PORT);
    let Answer::Members(v) = peer_members(host, port, tls, timeout) else {
        return None;
    };
    v.as_array()?.iter().map(member_of_json).collect()
}

/// One member of the peer listener's JSON: `id` is a decimal number (3.4.23 and 3.5.1; a hex
/// string is taken too), the URLs are `peerURLs` and `clientURLs`, and `isLearner` is left out
/// when false.
fn member_of_json(m: &serde_json::Value) -> Option<MemberInfo> {
    let id = match &m["id"] {
        serde_json::Value::String(s) => u64::from_str_radix(s, 16).ok()?,
        serde_json::Value::Number(n) => n.as_u64()?,
        _ => return None,
    };
    let urls = |key: &str| -> Vec<String> {
        m[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some(MemberInfo {
        id,
        name: m["name"].as_str().unwrap_or_default().to_string(),
        peer_urls: urls("peerURLs"),
        client_urls: urls("clientURLs"),
        is_learner: m["isLearner"].as_bool().unwrap_or(false),
    })
}

fn https_of(endpoint: &str) -> String {
    match endpoint.strip_prefix("http://") {
        Some(rest) => format!("https://{rest}"),
        None => endpoint.to_string(),
    }
}

/// Builds the rustls client config from the TLS files (the same checks tonic makes, so a
/// certificate and key that do not belong together are found before any traffic).
pub(crate) fn client_config(
    files: &TlsFiles,
    alpn: &[&[u8]],
) -> Result<ClientConfig, (rustls::Error, &'static str)> {
    let read = |p: &Path| std::fs::read(p).unwrap_or_default();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(
        CertificateDer::pem_slice_iter(&read(&files.cacert)).filter_map(Result::ok),
    );
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&files.cert))
        .filter_map(Result::ok)
        .collect();
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key))
        .map_err(|e| (rustls::Error::General(e.to_string()), "key"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| (e, "versions"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| (e, "identity"))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Finds out whether `endpoint` (normalised, it failed) is the peer port or a TLS port named
/// `http://`. `None` when neither, or when nothing answers. Each step is bounded by `timeout`.
pub(crate) fn misdirected(
    endpoint: &str,
    tls: &TlsFiles,
    timeout: Duration,
) -> Option<Misdirected> {
    let https = endpoint.starts_with("https://");
    let uri: tonic::codegen::http::Uri = endpoint.parse().ok()?;
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16()?;
    let speaks_tls = !https && speaks_tls(host, port, timeout);
    if !https && !speaks_tls {
        return None;
    }
    let peer = match peer_members(host, port, tls, timeout) {
        Answer::Members(members) => Some(PeerPort {
            answered_members: true,
            client_urls: client_urls_of(&members, host, port),
        }),
        // Not a peer listener: it answered, but not with a member list.
        Answer::Other | Answer::Unreachable => None,
        // Something listens but gave no HTTP answer (our certificate rejected?): only the
        // number is left.
        Answer::Silent => (port == PEER_PORT).then(|| PeerPort {
            answered_members: false,
            client_urls: Vec::new(),
        }),
    };
    (speaks_tls || peer.is_some()).then(|| Misdirected {
        endpoint: endpoint.to_string(),
        speaks_tls,
        peer,
    })
}

fn connect(host: &str, port: u16, timeout: Duration) -> Option<TcpStream> {
    let addr = (host, port).to_socket_addrs().ok()?.next()?;
    let tcp = TcpStream::connect_timeout(&addr, timeout).ok()?;
    tcp.set_read_timeout(Some(timeout)).ok()?;
    tcp.set_write_timeout(Some(timeout)).ok()?;
    Some(tcp)
}

/// Sends a TLS ClientHello and says whether the first bytes back are a TLS record (a handshake
/// message or an alert, version 3.x).
fn speaks_tls(host: &str, port: u16, timeout: Duration) -> bool {
    let Some(mut tcp) = connect(host, port, timeout) else {
        return false;
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let Ok(builder) =
        ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions()
    else {
        return false;
    };
    let config = builder
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string())
        .unwrap_or_else(|_| ServerName::try_from("localhost").expect("a valid name"));
    let Ok(mut conn) = ClientConnection::new(Arc::new(config), name) else {
        return false;
    };
    while conn.wants_write() {
        if conn.write_tls(&mut tcp).is_err() {
            return false;
        }
    }
    let mut head = [0u8; 5];
    tcp.read_exact(&mut head).is_ok() && matches!(head, [0x15 | 0x16, 0x03, _, _, _])
}

/// What `GET /members` brought back.
enum Answer {
    /// A member list: etcd's peer handler.
    Members(serde_json::Value),
    /// Some other HTTP answer.
    Other,
    /// A connection, but no HTTP answer.
    Silent,
    /// No connection at all (or no TLS material to try with).
    Unreachable,
}

/// `GET /members` over TLS with the client certificate.
fn peer_members(host: &str, port: u16, tls: &TlsFiles, timeout: Duration) -> Answer {
    let Ok(config) = client_config(tls, &[b"http/1.1"]) else {
        return Answer::Unreachable;
    };
    let Some(conn) = ServerName::try_from(host.to_string())
        .ok()
        .and_then(|name| ClientConnection::new(Arc::new(config), name).ok())
    else {
        return Answer::Unreachable;
    };
    let Some(tcp) = connect(host, port, timeout) else {
        return Answer::Unreachable;
    };
    let mut stream = StreamOwned::new(conn, tcp);
    let request =
        format!("GET /members HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return Answer::Silent;
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 << 10];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) if answer.len() + n <= 1 << 20 => {
                answer.extend_from_slice(&buf[..n]);
                // etcd sends the whole answer at once but may close the connection only
                // seconds later: stop as soon as the body its Content-Length names is in.
                if complete(&answer) {
                    break;
                }
            }
            Ok(_) => break,
            // A close without close_notify ends the answer as well.
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Answer::Silent;
    };
    if !head.starts_with("HTTP/") {
        return Answer::Silent;
    }
    if head.split_whitespace().nth(1) != Some("200") {
        return Answer::Other;
    }
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    match serde_json::from_str::<serde_json::Value>(body.trim()) {
        Ok(v)
            if v.as_array()
                .is_some_and(|a| a.iter().any(|m| m.get("peerURLs").is_some())) =>
        {
            Answer::Members(v)
        }
        _ => Answer::Other,
    }
}

/// The answer's head is in and its body has the length `Content-Length` names.
fn complete(answer: &[u8]) -> bool {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .is_some_and(|len| answer.len() - (end + 4) >= len)
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// The client URLs of the member whose peer URL is `host:port`, else of every member.
fn client_urls_of(members: &serde_json::Value, host: &str, port: u16) -> Vec<String> {
    let urls = |m: &serde_json::Value, key: &str| -> Vec<String> {
        m.get(key)
            .and_then(|u| u.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let list = members.as_array().cloned().unwrap_or_default();
    let at = format!("{host}:{port}");
    let this: Vec<String> = list
        .iter()
        .filter(|m| urls(m, "peerURLs").iter().any(|u| u.ends_with(&at)))
        .flat_map(|m| urls(m, "clientURLs"))
        .collect();
    if this.is_empty() {
        list.iter().flat_map(|m| urls(m, "clientURLs")).collect()
    } else {
        this
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_urls_come_from_the_member_at_this_peer_url() {
        let members: serde_json::Value = serde_json::from_str(
            r#"[{"id":"1","name":"a","peerURLs":["https://127.0.0.1:2380"],
                 "clientURLs":["https://127.0.0.1:2379"]},
                {"id":"2","name":"b","peerURLs":["https://10.0.0.2:2380"],
                 "clientURLs":["https://10.0.0.2:2379"]}]"#,
        )
        .unwrap();
        assert_eq!(
            client_urls_of(&members, "10.0.0.2", 2380),
            vec!["https://10.0.0.2:2379"]
        );
        assert_eq!(client_urls_of(&members, "10.9.9.9", 2380).len(), 2);
    }

    #[test]
    fn an_answer_is_complete_once_its_content_length_is_in() {
        let head =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n";
        let mut a = head.to_vec();
        assert!(!complete(&a));
        a.extend_from_slice(b"[1,2");
        assert!(!complete(&a));
        a.push(b']');
        assert!(complete(&a));
        assert!(!complete(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n"
        ));
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(dechunk("3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n"), "[1,2]");
    }
}
