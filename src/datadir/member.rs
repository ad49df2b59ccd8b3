//! The members of the restored cluster: parsing `--initial-cluster` and
//! `--initial-advertise-peer-urls`, the bootstrap checks, member and cluster IDs, and the member
//! JSON (docs/formats.md §3.3, §5.2, §5.3).
//!
//! Upstream: `client/pkg/types/urls.go` and `urlsmap.go` (parsing), `server/config/config.go`
//! `VerifyBootstrap` (checks), `server/etcdserver/api/membership/member.go` `NewMember` and
//! `cluster.go` `NewClusterFromURLsMap`/`genID` (IDs).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use sha1::{Digest, Sha1};

/// One member of the new cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub id: u64,
    pub name: String,
    /// Sorted by string, as `types.URLs.Sort` leaves them.
    pub peer_urls: Vec<String>,
}

/// The new cluster as restore bootstraps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cluster {
    /// Sorted by ID ascending: the order of the WAL entries and of the v2 store (§5.5, §5.6).
    pub members: Vec<Member>,
    /// Index in `members` of the member named by `--name`.
    pub local: usize,
    pub cluster_id: u64,
    pub token: String,
}

/// The schemes `types.NewURL` accepts.
const SCHEMES: [&str; 4] = ["http", "https", "unix", "unixs"];

/// Parses one URL as Go `types.NewURL` does (`url.Parse`, then scheme, `net.SplitHostPort` on the
/// host for every scheme, empty path) and returns its `url.URL.String()` form.
///
/// Go lowercases the scheme and otherwise keeps these URLs as written. Forms whose `String()` Go
/// would re-encode (user info, query, fragment, `%`-escapes, non-ASCII hosts) are rejected here
/// instead of being accepted with a string that might differ from upstream's.
fn parse_url(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let scheme_err = || format!("URL scheme must be http, https, unix, or unixs: {s:?}");
    let host_port_err =
        |why: &str| format!("URL address does not have the form \"host:port\" ({why}): {s:?}");

    // net/url getScheme: a letter, then letters, digits, '+', '-', '.', up to the first ':'.
    let Some(colon) = s.find(':') else {
        return Err(scheme_err());
    };
    let scheme = &s[..colon];
    let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let scheme = scheme.to_ascii_lowercase();
    if !valid_scheme || !SCHEMES.contains(&scheme.as_str()) {
        return Err(scheme_err());
    }
    let rest = &s[colon + 1..];
    if rest.contains(['?', '#']) {
        return Err(format!("URL must not contain a query or a fragment: {s:?}"));
    }
    // Without "//" Go has no host (an opaque URL or a bare path), which SplitHostPort rejects.
    let Some(after) = rest.strip_prefix("//") else {
        return Err(host_port_err("no \"//\" before the host"));
    };
    let (authority, path) = after.split_at(after.find('/').unwrap_or(after.len()));
    if authority.contains('@') {
        return Err(format!("URL must not contain user information: {s:?}"));
    }
    check_host_port(authority).map_err(|why| host_port_err(&why))?;
    // Go accepts an empty host, but etcd's DNS check (netutil.resolveTCPAddrs, skipped for unix
    // schemes) then fails with `lookup : no such host`.
    if scheme.starts_with("http") && (authority.starts_with(':') || authority.starts_with("[]")) {
        return Err(format!("URL has an empty host: {s:?}"));
    }
    if !path.is_empty() {
        return Err(format!("URL must not contain a path: {s:?}"));
    }
    Ok(format!("{scheme}://{authority}"))
}

/// `host:port` as `url.Parse` and `net.SplitHostPort` accept it: an IPv6 literal in brackets or a
/// host without ':', then ':' and a port of digits (Go accepts an empty port and an empty host).
fn check_host_port(authority: &str) -> Result<(), String> {
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let Some((ip, after)) = inner.split_once(']') else {
            return Err("missing ']' in address".to_string());
        };
        if !ip
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(format!("unsupported character in IPv6 address {ip:?}"));
        }
        let Some(port) = after.strip_prefix(':') else {
            return Err("missing port in address".to_string());
        };
        (None, port)
    } else {
        let Some((host, port)) = authority.rsplit_once(':') else {
            return Err("missing port in address".to_string());
        };
        (Some(host), port)
    };
    if let Some(host) = host {
        if host.contains(':') {
            return Err("too many colons in address".to_string());
        }
        // net/url shouldEscape(encodeHost): unreserved characters and these sub-delimiters are
        // kept as written by url.URL.String().
        if let Some(c) = host
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || "-._~!$&'()*+;=<>\"".contains(c)))
        {
            return Err(format!("unsupported character {c:?} in host {host:?}"));
        }
    }
    if !port.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("invalid port {port:?}"));
    }
    Ok(())
}

/// Parses a comma-separated URL list as Go `types.NewURLs(strings.Split(s, ","))`: each item is
/// trimmed and must be an http, https, unix or unixs URL of the form `scheme://host:port` with
/// no path (a trailing "/" is rejected). The result is sorted by string.
pub(crate) fn parse_urls(s: &str) -> Result<Vec<String>, String> {
    let mut urls = s.split(',').map(parse_url).collect::<Result<Vec<_>, _>>()?;
    urls.sort();
    Ok(urls)
}

/// Parses `--initial-cluster` as Go `types.NewURLsMap`: items separated by ',', empty items
/// skipped, each split at the first '=' into a name and a URL (no '=' gives an empty URL, which
/// fails). A name may repeat; its URLs are collected and sorted.
pub(crate) fn parse_initial_cluster(s: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    let mut raw: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for item in s.split(',').filter(|item| !item.is_empty()) {
        let (name, url) = item.split_once('=').unwrap_or((item, ""));
        raw.entry(name.to_string()).or_default().push(url);
    }
    let mut map = BTreeMap::new();
    for (name, urls) in raw {
        let mut parsed = Vec::with_capacity(urls.len());
        for url in urls {
            let url =
                parse_url(url).map_err(|e| format!("--initial-cluster: member {name:?}: {e}"))?;
            parsed.push(url);
        }
        parsed.sort();
        map.insert(name, parsed);
    }
    Ok(map)
}

/// Member ID = first 8 bytes, big-endian, of SHA-1(sorted peer URL strings concatenated without
/// separator ‖ cluster token) (`membership.NewMember` with a nil time, as at bootstrap).
pub(crate) fn member_id(sorted_peer_urls: &[String], token: &str) -> u64 {
    let mut urls = sorted_peer_urls.to_vec();
    urls.sort();
    let mut h = Sha1::new();
    for url in &urls {
        h.update(url.as_bytes());
    }
    h.update(token.as_bytes());
    first_8_be(&h.finalize())
}

/// Cluster ID = first 8 bytes, big-endian, of SHA-1(member IDs sorted ascending, each as 8 bytes
/// big-endian) (`RaftCluster.genID`).
pub(crate) fn cluster_id(ids: &[u64]) -> u64 {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    let mut h = Sha1::new();
    for id in ids {
        h.update(id.to_be_bytes());
    }
    first_8_be(&h.finalize())
}

fn first_8_be(digest: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(b)
}

/// Validates the restore flags as `ServerConfig.VerifyBootstrap` and
/// `NewClusterFromURLsMap` do (§5.2 items 1-5) and builds the cluster.
///
/// Unlike upstream (`netutil.URLStringsEqual`), URLs are compared as written: upstream resolves
/// host names (other than `localhost`), so it accepts a host name on one side and its address on
/// the other, and it rejects (after 30 s of retries) a host name that does not resolve even when
/// both sides are equal; we reject the former and accept the latter.
pub(crate) fn build_cluster(
    name: &str,
    initial_cluster: &str,
    advertise_peer_urls: &str,
    token: &str,
) -> Result<Cluster, String> {
    let advertised = parse_urls(advertise_peer_urls)
        .map_err(|e| format!("--initial-advertise-peer-urls: {e}"))?;
    let map = parse_initial_cluster(initial_cluster)?;
    let Some(local_urls) = map.get(name) else {
        return Err(format!(
            "couldn't find local name {name:?} in the initial cluster configuration"
        ));
    };
    check_advertised(name, local_urls, &advertised)?;
    check_duplicate_urls(&map)?;

    let mut members: Vec<Member> = map
        .iter()
        .map(|(n, urls)| Member {
            id: member_id(urls, token),
            name: n.clone(),
            peer_urls: urls.clone(),
        })
        .collect();
    members.sort_by_key(|m| m.id);
    check_ids(&members)?;
    let local = members
        .iter()
        .position(|m| m.name == name)
        .ok_or_else(|| format!("local member {name:?} missing from the built cluster"))?;
    let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
    Ok(Cluster {
        cluster_id: cluster_id(&ids),
        members,
        local,
        token: token.to_string(),
    })
}

/// `ServerConfig.advertiseMatchesCluster`: the local member's URLs in `--initial-cluster` must
/// equal the advertised ones (both sorted lists).
fn check_advertised(
    name: &str,
    cluster_urls: &[String],
    advertised: &[String],
) -> Result<(), String> {
    if cluster_urls == advertised {
        return Ok(());
    }
    let in_cluster: BTreeSet<&String> = cluster_urls.iter().collect();
    let in_advertised: BTreeSet<&String> = advertised.iter().collect();
    let ap = advertised.join(",");
    let note = "URLs are compared as written, without DNS resolution";
    let missing: Vec<&String> = in_cluster.difference(&in_advertised).copied().collect();
    if !missing.is_empty() {
        return Err(format!(
            "--initial-cluster has {} but missing from --initial-advertise-peer-urls={ap} ({note})",
            name_url_pairs(name, missing)
        ));
    }
    let missing: Vec<&str> = in_advertised
        .difference(&in_cluster)
        .map(|s| s.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "--initial-advertise-peer-urls has {} but missing from --initial-cluster={} ({note})",
            missing.join(","),
            name_url_pairs(name, advertised)
        ));
    }
    // Same URLs, but one side lists some of them more often.
    Err(format!(
        "--initial-advertise-peer-urls={ap} does not match --initial-cluster={} \
         (a URL is repeated)",
        name_url_pairs(name, cluster_urls)
    ))
}

/// `name=url,name=url,...` as `types.URLsMap.String` prints one member.
fn name_url_pairs<'a>(name: &str, urls: impl IntoIterator<Item = &'a String>) -> String {
    let pairs: Vec<String> = urls.into_iter().map(|u| format!("{name}={u}")).collect();
    pairs.join(",")
}

/// `config.CheckDuplicateURL`: no URL may appear twice in `--initial-cluster`, whether in two
/// members or twice for one.
fn check_duplicate_urls(map: &BTreeMap<String, Vec<String>>) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for url in map.values().flatten() {
        if !seen.insert(url) {
            let pairs: Vec<String> = map
                .iter()
                .flat_map(|(n, urls)| urls.iter().map(move |u| format!("{n}={u}")))
                .collect();
            return Err(format!(
                "initial cluster {} has duplicate url {url}",
                pairs.join(",")
            ));
        }
    }
    Ok(())
}

/// `NewClusterFromURLsMap`: member IDs must be distinct and not 0 (`raft.None`). `members` is
/// sorted by ID.
fn check_ids(members: &[Member]) -> Result<(), String> {
    for m in members {
        if m.id == 0 {
            return Err(format!(
                "member {:?} ({}) has ID 0: cannot use 0 as member id",
                m.name,
                m.peer_urls.join(",")
            ));
        }
    }
    for pair in members.windows(2) {
        if pair[0].id == pair[1].id {
            return Err(format!(
                "members {:?} and {:?} have the identical ID {:x}",
                pair[0].name, pair[1].name, pair[0].id
            ));
        }
    }
    Ok(())
}

/// The member as Go `encoding/json` writes `membership.Member` (§3.3), as stored in the backend
/// `members` bucket and in the WAL ConfChange context:
/// `{"id":<decimal>,"peerURLs":[...],"name":"..."}`. `isLearner`, an empty `name` and
/// `clientURLs` are omitted (`omitempty`; restore has no client URLs).
pub(crate) fn member_json(m: &Member) -> String {
    let mut out = format!("{{\"id\":{},\"peerURLs\":", m.id);
    push_string_array(&mut out, &m.peer_urls);
    if !m.name.is_empty() {
        out.push_str(",\"name\":");
        push_go_json_string(&mut out, &m.name);
    }
    out.push('}');
    out
}

/// The `raftAttributes` value of the v2 store (`membership.RaftAttributes`): `{"peerURLs":[...]}`.
pub(crate) fn raft_attributes_json(m: &Member) -> String {
    let mut out = String::from("{\"peerURLs\":");
    push_string_array(&mut out, &m.peer_urls);
    out.push('}');
    out
}

fn push_string_array(out: &mut String, items: &[String]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_go_json_string(out, item);
    }
    out.push(']');
}

/// A JSON string as Go's `encoding/json` (HTML escaping on, Go ≤ 1.21 as in etcd 3.4/3.5) writes
/// it: `\"`, `\\`, `\n`, `\r`, `\t`; other control characters as `\u00XX` (lowercase hex);
/// `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`; U+2028 and U+2029 escaped; all else as is.
pub(crate) fn push_go_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{0}'..='\u{1f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Clusters of docs/formats.md §5.3, shared by the WAL and `.snap` tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{build_cluster, Cluster};

    /// etcdutl's defaults: `default=http://localhost:2380`, token `etcd-cluster`.
    pub(crate) fn default_cluster() -> Cluster {
        build_cluster(
            "default",
            "default=http://localhost:2380",
            "http://localhost:2380",
            "etcd-cluster",
        )
        .unwrap()
    }

    /// m1..m3 on 127.0.0.1:23381..23383, token `tok-3`, local m1.
    pub(crate) fn three_member_cluster() -> Cluster {
        build_cluster(
            "m1",
            "m1=http://127.0.0.1:23381,m2=http://127.0.0.1:23382,m3=http://127.0.0.1:23383",
            "http://127.0.0.1:23381",
            "tok-3",
        )
        .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M3: &str =
        "m1=http://127.0.0.1:23381,m2=http://127.0.0.1:23382,m3=http://127.0.0.1:23383";

    fn urls(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_member_and_cluster_id() {
        let id = member_id(&urls(&["http://localhost:2380"]), "etcd-cluster");
        assert_eq!(id, 0x8e9e05c52164694d);
        assert_eq!(id, 10276657743932975437);
        assert_eq!(cluster_id(&[id]), 0xcdf818194e3a8c32);
    }

    #[test]
    fn default_flags_build_the_default_cluster() {
        let c = build_cluster(
            "default",
            "default=http://localhost:2380",
            "http://localhost:2380",
            "etcd-cluster",
        )
        .unwrap();
        assert_eq!(c.members.len(), 1);
        assert_eq!(c.local, 0);
        assert_eq!(c.members[0].id, 0x8e9e05c52164694d);
        assert_eq!(c.members[0].name, "default");
        assert_eq!(c.cluster_id, 0xcdf818194e3a8c32);
        assert_eq!(c.token, "etcd-cluster");
    }

    #[test]
    fn three_member_ids() {
        let c = build_cluster("m1", M3, "http://127.0.0.1:23381", "tok-3").unwrap();
        let got: Vec<(u64, &str)> = c.members.iter().map(|m| (m.id, m.name.as_str())).collect();
        assert_eq!(
            got,
            [
                (0x82ad7d6a3ec3e9c4, "m3"),
                (0xcdf70525115f9e33, "m2"),
                (0xf64812d0a0ba86be, "m1"),
            ]
        );
        assert_eq!(c.local, 2);
        assert_eq!(c.cluster_id, 0xdf6e51ccf50ab66d);
        let c2 = build_cluster("m2", M3, "http://127.0.0.1:23382", "tok-3").unwrap();
        assert_eq!(c2.local, 1);
        assert_eq!(c2.members, c.members);
        assert_eq!(c2.cluster_id, c.cluster_id);
    }

    #[test]
    fn ids_do_not_depend_on_input_order() {
        let urls_sorted = urls(&["http://a:1", "http://b:2"]);
        let urls_reversed = urls(&["http://b:2", "http://a:1"]);
        assert_eq!(member_id(&urls_sorted, "t"), member_id(&urls_reversed, "t"));
        assert_eq!(cluster_id(&[1, 2, 3]), cluster_id(&[3, 1, 2]));
    }

    #[test]
    fn urls_are_trimmed_sorted_and_scheme_lowercased() {
        assert_eq!(
            parse_urls(" https://10.0.0.2:2380 ,HTTP://10.0.0.1:2380,unix://sock:1").unwrap(),
            urls(&[
                "http://10.0.0.1:2380",
                "https://10.0.0.2:2380",
                "unix://sock:1"
            ])
        );
        assert_eq!(
            parse_urls("unixs://[::1]:2380").unwrap(),
            urls(&["unixs://[::1]:2380"])
        );
        // Go accepts an empty port, and an empty host for unix schemes.
        assert_eq!(parse_urls("unix://:2380").unwrap(), urls(&["unix://:2380"]));
        assert_eq!(parse_urls("http://a:").unwrap(), urls(&["http://a:"]));
    }

    #[test]
    fn url_errors() {
        let cases = [
            ("", "URL scheme must be http, https, unix, or unixs: \"\""),
            (
                "ftp://a:1",
                "URL scheme must be http, https, unix, or unixs: \"ftp://a:1\"",
            ),
            ("://a:1", "URL scheme must be"),
            ("127.0.0.1:2380", "URL scheme must be"),
            ("localhost", "URL scheme must be"),
            (
                "http://127.0.0.1",
                "does not have the form \"host:port\" (missing port",
            ),
            (
                "unix:///tmp/sock",
                "does not have the form \"host:port\" (missing port",
            ),
            (
                "unix://sock",
                "does not have the form \"host:port\" (missing port",
            ),
            (
                "http:a:1",
                "does not have the form \"host:port\" (no \"//\"",
            ),
            ("http://::1:2380", "too many colons"),
            ("http://[::1]", "missing port"),
            ("http://[::1:2380", "missing ']'"),
            ("http://[zz]:1", "unsupported character in IPv6"),
            ("http://a b:1", "unsupported character ' ' in host \"a b\""),
            ("http://é:1", "unsupported character"),
            ("http://a%41:1", "unsupported character '%'"),
            ("http://a:b", "invalid port \"b\""),
            (
                "http://a:1/",
                "URL must not contain a path: \"http://a:1/\"",
            ),
            ("http://a:1/x", "must not contain a path"),
            ("http://a:1?x=1", "must not contain a query or a fragment"),
            ("http://a:1#f", "must not contain a query or a fragment"),
            ("http://u@a:1", "must not contain user information"),
            ("http://a:1,", "URL scheme must be"),
            ("http://:2380", "URL has an empty host: \"http://:2380\""),
            ("https://[]:2380", "URL has an empty host"),
        ];
        for (input, want) in cases {
            let err = parse_urls(input).unwrap_err();
            assert!(err.contains(want), "{input:?}: got {err:?}, want {want:?}");
        }
    }

    #[test]
    fn initial_cluster_parsing() {
        let map = parse_initial_cluster(
            ",m1=http://b:2,,m2=http://c:3, m1=http://a:1 ,=http://e:5,x==http://d:4",
        )
        .unwrap_err();
        // "x==http://d:4" splits at the first '=' → URL "=http://d:4".
        assert!(map.contains("member \"x\""), "{map}");

        let map =
            parse_initial_cluster(",m1=http://b:2,,m2=http://c:3,m1= http://a:1 ,=http://e:5")
                .unwrap();
        let want: BTreeMap<String, Vec<String>> = [
            ("".to_string(), urls(&["http://e:5"])),
            ("m1".to_string(), urls(&["http://a:1", "http://b:2"])),
            ("m2".to_string(), urls(&["http://c:3"])),
        ]
        .into_iter()
        .collect();
        assert_eq!(map, want);
        assert!(parse_initial_cluster("").unwrap().is_empty());
    }

    #[test]
    fn initial_cluster_item_without_url_fails() {
        let err = parse_initial_cluster("m1").unwrap_err();
        assert_eq!(
            err,
            "--initial-cluster: member \"m1\": URL scheme must be http, https, unix, or unixs: \"\""
        );
    }

    #[test]
    fn bad_advertise_url() {
        let err = build_cluster("default", "default=http://a:1", "http://a:1/", "t").unwrap_err();
        assert_eq!(
            err,
            "--initial-advertise-peer-urls: URL must not contain a path: \"http://a:1/\""
        );
    }

    #[test]
    fn bad_initial_cluster_url() {
        let err = build_cluster("m1", "m1=http://a:1,m2=http://b", "http://a:1", "t").unwrap_err();
        assert!(
            err.starts_with("--initial-cluster: member \"m2\": URL address"),
            "{err}"
        );
    }

    #[test]
    fn local_name_missing() {
        let err = build_cluster(
            "foo",
            "default=http://localhost:2380",
            "http://localhost:2380",
            "etcd-cluster",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "couldn't find local name \"foo\" in the initial cluster configuration"
        );
    }

    #[test]
    fn advertised_url_missing() {
        let err = build_cluster("m1", M3, "http://localhost:23381", "tok-3").unwrap_err();
        assert_eq!(
            err,
            "--initial-cluster has m1=http://127.0.0.1:23381 but missing from \
             --initial-advertise-peer-urls=http://localhost:23381 \
             (URLs are compared as written, without DNS resolution)"
        );
    }

    #[test]
    fn advertised_url_extra() {
        let err = build_cluster(
            "m1",
            M3,
            "http://127.0.0.1:23381,http://10.0.0.1:23381",
            "tok-3",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "--initial-advertise-peer-urls has http://10.0.0.1:23381 but missing from \
             --initial-cluster=m1=http://10.0.0.1:23381,m1=http://127.0.0.1:23381 \
             (URLs are compared as written, without DNS resolution)"
        );
    }

    #[test]
    fn advertised_url_repeated() {
        let err = build_cluster("m1", "m1=http://a:1", "http://a:1,http://a:1", "t").unwrap_err();
        assert_eq!(
            err,
            "--initial-advertise-peer-urls=http://a:1,http://a:1 does not match \
             --initial-cluster=m1=http://a:1 (a URL is repeated)"
        );
    }

    #[test]
    fn duplicate_url_across_members() {
        let err =
            build_cluster("m1", "m1=http://a:1,m2=http://a:1", "http://a:1", "t").unwrap_err();
        assert_eq!(
            err,
            "initial cluster m1=http://a:1,m2=http://a:1 has duplicate url http://a:1"
        );
    }

    #[test]
    fn duplicate_url_within_one_member() {
        let err = build_cluster(
            "m1",
            "m1=http://a:1,m1=http://a:1",
            "http://a:1,http://a:1",
            "t",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "initial cluster m1=http://a:1,m1=http://a:1 has duplicate url http://a:1"
        );
    }

    #[test]
    fn zero_member_id_is_rejected() {
        let m = |id, name: &str| Member {
            id,
            name: name.to_string(),
            peer_urls: urls(&["http://a:1"]),
        };
        let err = check_ids(&[m(0, "z"), m(5, "a")]).unwrap_err();
        assert_eq!(
            err,
            "member \"z\" (http://a:1) has ID 0: cannot use 0 as member id"
        );
    }

    #[test]
    fn duplicate_member_id_is_rejected() {
        let m = |id, name: &str| Member {
            id,
            name: name.to_string(),
            peer_urls: urls(&["http://a:1"]),
        };
        let err = check_ids(&[m(1, "a"), m(0xab, "b"), m(0xab, "c")]).unwrap_err();
        assert_eq!(err, "members \"b\" and \"c\" have the identical ID ab");
        assert!(check_ids(&[m(1, "a"), m(2, "b")]).is_ok());
    }

    #[test]
    fn member_json_matches_go() {
        let c = build_cluster(
            "default",
            "default=http://localhost:2380",
            "http://localhost:2380",
            "etcd-cluster",
        )
        .unwrap();
        assert_eq!(
            member_json(&c.members[0]),
            r#"{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"default"}"#
        );
        assert_eq!(
            raft_attributes_json(&c.members[0]),
            r#"{"peerURLs":["http://localhost:2380"]}"#
        );
    }

    #[test]
    fn member_json_omits_empty_name_and_lists_all_urls() {
        let m = Member {
            id: 1,
            name: String::new(),
            peer_urls: urls(&["http://a:1", "https://b:2"]),
        };
        assert_eq!(
            member_json(&m),
            r#"{"id":1,"peerURLs":["http://a:1","https://b:2"]}"#
        );
    }

    #[test]
    fn go_json_escaping() {
        let m = Member {
            id: 7,
            name: "a<b>&\"c\\\n\r\t\u{1}\u{1f}\u{7f}\u{8}\u{c}\u{2028}\u{2029}é€😀".to_string(),
            peer_urls: urls(&["http://a&b:1"]),
        };
        assert_eq!(
            member_json(&m),
            "{\"id\":7,\"peerURLs\":[\"http://a\\u0026b:1\"],\"name\":\
             \"a\\u003cb\\u003e\\u0026\\\"c\\\\\\n\\r\\t\\u0001\\u001f\u{7f}\\u0008\\u000c\
             \\u2028\\u2029é€😀\"}"
        );
    }
}
