//! Compression and encryption of backup files: `.db`, `.db.zst`, `.db.age`, `.db.zst.age`.
//!
//! The name says which layers a file has, outermost last: `.zst` is a zstd frame (with its
//! content checksum), `.age` an age v1 file (age-encryption.org/v1, X25519 recipients). Both are
//! streams, so a snapshot is compressed and encrypted as it arrives from etcd and decrypted and
//! decompressed as it is read back; no plaintext copy of an encrypted backup is ever written.
//! The standard tools read our files: `age -d -i key.txt f.db.zst.age | zstd -d > f.db`.
//!
//! Keys: recipients are `age1…` public keys, given inline or as files of them (one per line, `#`
//! comments), as `age -R` reads them. Identities are `AGE-SECRET-KEY-1…` files, as `age-keygen`
//! writes them; they must be readable by their owner only. Nothing secret is ever printed.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::x25519;

pub(crate) const ZSTD_SUFFIX: &str = ".zst";
pub(crate) const AGE_SUFFIX: &str = ".age";
/// zstd's default level: about 400 MB/s on one core, and etcd's free pages compress to nothing.
pub(crate) const ZSTD_LEVEL: i32 = 3;

/// Which layers a stored file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Layers {
    pub zstd: bool,
    pub age: bool,
}

impl Layers {
    pub const PLAIN: Layers = Layers {
        zstd: false,
        age: false,
    };

    /// What the layers add to a file name: `""`, `.zst`, `.age` or `.zst.age`.
    pub fn suffix(self) -> &'static str {
        match (self.zstd, self.age) {
            (false, false) => "",
            (true, false) => ".zst",
            (false, true) => ".age",
            (true, true) => ".zst.age",
        }
    }

    /// Splits `name` into the name without layer suffixes and the layers.
    pub fn strip(name: &str) -> (&str, Layers) {
        let (rest, age) = match name.strip_suffix(AGE_SUFFIX) {
            Some(r) => (r, true),
            None => (name, false),
        };
        let (rest, zstd) = match rest.strip_suffix(ZSTD_SUFFIX) {
            Some(r) => (r, true),
            None => (rest, false),
        };
        (rest, Layers { zstd, age })
    }

    pub fn is_plain(self) -> bool {
        self == Layers::PLAIN
    }

    /// For messages and the sidecar: `zstd`, `age`, `zstd+age`, or `none`.
    pub fn describe(self) -> &'static str {
        match (self.zstd, self.age) {
            (false, false) => "none",
            (true, false) => "zstd",
            (false, true) => "age",
            (true, true) => "zstd+age",
        }
    }
}

/// A problem with keys or with decrypting/decompressing a stored file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LayerError {
    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Key(String),
    #[error("{name} is encrypted (age), and no --identity was given to decrypt it")]
    NoIdentity { name: String },
    #[error(
        "none of the --identity keys can decrypt {name} (it was encrypted to other recipients)"
    )]
    WrongIdentity { name: String },
    #[error("{name} is not a readable age file: {detail}")]
    BadAge { name: String, detail: String },
}

/// Refuses a key file that others may change (or, for identities, read).
fn check_key_file(path: &Path, secret: bool) -> Result<(), LayerError> {
    let meta = std::fs::metadata(path).map_err(|source| LayerError::Io {
        what: "cannot read key file",
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    let uid = rustix::process::geteuid().as_raw();
    if meta.uid() != uid && meta.uid() != 0 {
        return Err(LayerError::Key(format!(
            "{} belongs to uid {}, not to this user (uid {uid}) or root; refusing to trust it",
            path.display(),
            meta.uid()
        )));
    }
    let (bad, need) = if secret {
        (mode & 0o077 != 0, "chmod 600")
    } else {
        (mode & 0o022 != 0, "chmod go-w")
    };
    if bad {
        return Err(LayerError::Key(format!(
            "{} has mode {mode:03o}: {}; run `{need} {}`",
            path.display(),
            if secret {
                "an identity (secret key) file must be readable by its owner only"
            } else {
                "a recipients file others can write could be swapped for their own key"
            },
            path.display()
        )));
    }
    Ok(())
}

/// The lines of a key file that hold keys (no blanks, no `#` comments).
fn key_lines(path: &Path) -> Result<Vec<String>, LayerError> {
    let file = File::open(path).map_err(|source| LayerError::Io {
        what: "cannot open key file",
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|source| LayerError::Io {
            what: "cannot read key file",
            path: path.to_path_buf(),
            source,
        })?;
        let t = line.trim();
        if !t.is_empty() && !t.starts_with('#') {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

/// Parses `--encrypt-to` values: each an `age1…` public key or a file of them.
pub(crate) fn load_recipients(specs: &[String]) -> Result<Vec<x25519::Recipient>, LayerError> {
    let mut out = Vec::new();
    for spec in specs {
        if spec.starts_with("age1") {
            out.push(x25519::Recipient::from_str(spec).map_err(|e| {
                LayerError::Key(format!(
                    "--encrypt-to {spec}: not an age X25519 recipient: {e}"
                ))
            })?);
            continue;
        }
        let path = Path::new(spec);
        check_key_file(path, false)?;
        let lines = key_lines(path)?;
        if lines.is_empty() {
            return Err(LayerError::Key(format!(
                "recipients file {} holds no age1… key",
                path.display()
            )));
        }
        for (i, l) in lines.iter().enumerate() {
            if l.starts_with("AGE-SECRET-KEY-") {
                return Err(LayerError::Key(format!(
                    "{} holds a secret key (line {}); --encrypt-to takes public keys (age1…): \
                     `age-keygen -y {}` prints them",
                    path.display(),
                    i + 1,
                    path.display()
                )));
            }
            out.push(x25519::Recipient::from_str(l).map_err(|e| {
                LayerError::Key(format!(
                    "{}: key {} is not an age X25519 recipient (age1…): {e}",
                    path.display(),
                    i + 1
                ))
            })?);
        }
    }
    Ok(out)
}

/// Reads `--identity` files (`AGE-SECRET-KEY-1…` lines, as `age-keygen` writes them).
pub(crate) fn load_identities(paths: &[PathBuf]) -> Result<Vec<x25519::Identity>, LayerError> {
    let mut out = Vec::new();
    for path in paths {
        check_key_file(path, true)?;
        let lines = key_lines(path)?;
        let before = out.len();
        for (i, l) in lines.iter().enumerate() {
            // Never echo the line: it is a secret.
            let id = x25519::Identity::from_str(l).map_err(|_| {
                LayerError::Key(format!(
                    "{}: key {} is not an age X25519 identity (AGE-SECRET-KEY-1…)",
                    path.display(),
                    i + 1
                ))
            })?;
            out.push(id);
        }
        if out.len() == before {
            return Err(LayerError::Key(format!(
                "identity file {} holds no AGE-SECRET-KEY-1… key",
                path.display()
            )));
        }
    }
    Ok(out)
}

/// Plaintext in, stored bytes out: zstd, then age, then `W`.
pub(crate) struct Encoder<W: Write> {
    inner: Enc<W>,
}

enum Enc<W: Write> {
    Plain(W),
    Zstd(zstd::Encoder<'static, W>),
    Age(age::stream::StreamWriter<W>),
    ZstdAge(zstd::Encoder<'static, age::stream::StreamWriter<W>>),
}

fn zstd_encoder<W: Write>(w: W) -> io::Result<zstd::Encoder<'static, W>> {
    let mut e = zstd::Encoder::new(w, ZSTD_LEVEL)?;
    e.include_checksum(true)?;
    Ok(e)
}

impl<W: Write> Encoder<W> {
    /// Starts the layers over `out`. `recipients` must be non-empty when `layers.age`.
    pub(crate) fn new(
        out: W,
        layers: Layers,
        recipients: &[x25519::Recipient],
    ) -> Result<Encoder<W>, LayerError> {
        let age_writer = |w: W| -> Result<age::stream::StreamWriter<W>, LayerError> {
            let enc = age::Encryptor::with_recipients(
                recipients.iter().map(|r| r as &dyn age::Recipient),
            )
            .map_err(|e| LayerError::Key(format!("cannot encrypt: {e}")))?;
            enc.wrap_output(w).map_err(|source| LayerError::Io {
                what: "cannot write the age header to",
                path: PathBuf::from("the backup"),
                source,
            })
        };
        let zstd_err = |source| LayerError::Io {
            what: "cannot start zstd for",
            path: PathBuf::from("the backup"),
            source,
        };
        let inner = match (layers.zstd, layers.age) {
            (false, false) => Enc::Plain(out),
            (true, false) => Enc::Zstd(zstd_encoder(out).map_err(zstd_err)?),
            (false, true) => Enc::Age(age_writer(out)?),
            (true, true) => Enc::ZstdAge(zstd_encoder(age_writer(out)?).map_err(zstd_err)?),
        };
        Ok(Encoder { inner })
    }

    /// Ends every layer (zstd frame end, age's last chunk) and returns the sink.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self.inner {
            Enc::Plain(w) => Ok(w),
            Enc::Zstd(z) => z.finish(),
            Enc::Age(a) => a.finish(),
            Enc::ZstdAge(z) => z.finish()?.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Enc::Plain(w) => w.write(buf),
            Enc::Zstd(z) => z.write(buf),
            Enc::Age(a) => a.write(buf),
            Enc::ZstdAge(z) => z.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Enc::Plain(w) => w.flush(),
            Enc::Zstd(z) => z.flush(),
            Enc::Age(a) => a.flush(),
            Enc::ZstdAge(z) => z.flush(),
        }
    }
}

/// Stored bytes in, plaintext out. `name` is for messages. Fails early (before any plaintext)
/// when the file is encrypted and no identity fits.
pub(crate) fn decoder<'a, R: Read + Send + 'a>(
    stored: R,
    layers: Layers,
    identities: &[x25519::Identity],
    name: &str,
) -> Result<Box<dyn Read + Send + 'a>, LayerError> {
    let decrypted: Box<dyn Read + Send + 'a> = if layers.age {
        if identities.is_empty() {
            return Err(LayerError::NoIdentity {
                name: name.to_string(),
            });
        }
        let bad = |detail: String| LayerError::BadAge {
            name: name.to_string(),
            detail,
        };
        let d = age::Decryptor::new_buffered(BufReader::with_capacity(64 << 10, stored))
            .map_err(|e| bad(e.to_string()))?;
        let r = d
            .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => LayerError::WrongIdentity {
                    name: name.to_string(),
                },
                e => bad(e.to_string()),
            })?;
        Box::new(r)
    } else {
        Box::new(stored)
    };
    if layers.zstd {
        let z = zstd::Decoder::new(decrypted).map_err(|source| LayerError::Io {
            what: "cannot start zstd for",
            path: PathBuf::from(name),
            source,
        })?;
        Ok(Box::new(z))
    } else {
        Ok(decrypted)
    }
}

/// A `Write` that hands its bytes to a thread running `sink`, so that compression and
/// encryption use the second core while the first receives the snapshot. Memory is bounded by
/// the queue (a few chunks).
pub(crate) struct Background<W: Write + Send + 'static> {
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    worker: Option<std::thread::JoinHandle<io::Result<W>>>,
}

impl<W: Write + Send + 'static> Background<W> {
    pub(crate) fn new(mut sink: W) -> io::Result<Background<W>> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
        let worker = std::thread::Builder::new()
            .name("encode".to_string())
            .spawn(move || -> io::Result<W> {
                for chunk in rx {
                    sink.write_all(&chunk)?;
                }
                Ok(sink)
            })?;
        Ok(Background {
            tx: Some(tx),
            worker: Some(worker),
        })
    }

    fn stopped(&mut self) -> io::Error {
        self.tx = None;
        match self.worker.take().map(std::thread::JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => io::Error::other("the encoding thread panicked"),
            _ => io::Error::other("the encoding thread stopped"),
        }
    }

    /// Waits for every byte to reach `sink` and returns it.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.tx = None;
        match self.worker.take().map(std::thread::JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other("the encoding thread panicked")),
            None => Err(io::Error::other("the encoding thread stopped")),
        }
    }
}

impl<W: Write + Send + 'static> Write for Background<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let sent = match &self.tx {
            Some(tx) => tx.send(buf.to_vec()).is_ok(),
            None => false,
        };
        if sent {
            Ok(buf.len())
        } else {
            Err(self.stopped())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write + Send + 'static> Drop for Background<W> {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// Counts and hashes the bytes that pass through to `W` (the stored form of a file).
pub(crate) struct Tally<W> {
    inner: W,
    hasher: sha2::Sha256,
    len: u64,
}

impl<W> Tally<W> {
    pub(crate) fn new(inner: W) -> Tally<W> {
        Tally {
            inner,
            hasher: <sha2::Sha256 as sha2::Digest>::new(),
            len: 0,
        }
    }

    /// The sink, the byte count and the SHA-256 of what went through.
    pub(crate) fn finish(self) -> (W, u64, [u8; 32]) {
        let digest = sha2::Digest::finalize(self.hasher).into();
        (self.inner, self.len, digest)
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

impl<W: Write> Write for Tally<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads `r` to the end: its length and SHA-256 (a file or object read back to check it).
pub(crate) fn digest<R: Read>(r: R) -> io::Result<(u64, [u8; 32])> {
    let mut tally = Tally::new(r);
    io::copy(&mut tally, &mut io::sink())?;
    let (_, len, sha) = tally.finish();
    Ok((len, sha))
}

impl<R: Read> Read for Tally<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i / 4096) as u8)
            .collect()
    }

    fn round_trip(layers: Layers, plain: &[u8]) {
        let id = x25519::Identity::generate();
        let mut enc = Encoder::new(Vec::new(), layers, &[id.to_public()]).unwrap();
        for c in plain.chunks(32 * 1024 + 7) {
            enc.write_all(c).unwrap();
        }
        let stored = enc.finish().unwrap();
        if layers.age {
            assert!(stored.starts_with(b"age-encryption.org/v1\n"));
        }
        if layers.zstd && !layers.age {
            assert_eq!(&stored[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
        }
        let mut out = Vec::new();
        decoder(stored.as_slice(), layers, &[id], "t")
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert!(out == plain, "{layers:?}");
    }

    #[test]
    fn every_layer_combination_round_trips() {
        for zstd in [false, true] {
            for age in [false, true] {
                for len in [0, 1, 65536, 65537, 3 << 20] {
                    round_trip(Layers { zstd, age }, &data(len));
                }
            }
        }
    }

    #[test]
    fn names_carry_the_layers() {
        assert_eq!(
            Layers::strip("a.db.zst.age"),
            (
                "a.db",
                Layers {
                    zstd: true,
                    age: true
                }
            )
        );
        assert_eq!(Layers::strip("a.db.age").1.suffix(), ".age");
        assert_eq!(Layers::strip("a.db"), ("a.db", Layers::PLAIN));
        // Order matters: age is always outermost.
        assert_eq!(Layers::strip("a.db.age.zst").0, "a.db.age");
    }

    #[test]
    fn wrong_identity_and_tampering_fail_cleanly() {
        let id = x25519::Identity::generate();
        let other = x25519::Identity::generate();
        let layers = Layers {
            zstd: true,
            age: true,
        };
        let mut enc = Encoder::new(Vec::new(), layers, &[id.to_public()]).unwrap();
        enc.write_all(&data(1 << 20)).unwrap();
        let mut stored = enc.finish().unwrap();
        assert!(matches!(
            decoder(stored.as_slice(), layers, &[other], "f"),
            Err(LayerError::WrongIdentity { .. })
        ));
        assert!(matches!(
            decoder(stored.as_slice(), layers, &[], "f"),
            Err(LayerError::NoIdentity { .. })
        ));
        let n = stored.len();
        stored[n / 2] ^= 1;
        let mut out = Vec::new();
        let err = decoder(stored.as_slice(), layers, &[id], "f")
            .unwrap()
            .read_to_end(&mut out)
            .unwrap_err();
        assert!(err.to_string().contains("decrypt"), "{err}");
    }

    #[test]
    fn key_files_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let id = x25519::Identity::generate();
        let secret = dir.path().join("key.txt");
        std::fs::write(
            &secret,
            format!(
                "# created: now\n# public key: {}\n{}\n",
                id.to_public(),
                age::secrecy::ExposeSecret::expose_secret(&id.to_string())
            ),
        )
        .unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_identities(std::slice::from_ref(&secret))
            .err()
            .expect("a 0644 identity file is refused")
            .to_string();
        assert!(err.contains("chmod 600"), "{err}");
        assert!(!err.contains("AGE-SECRET-KEY"), "{err}");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            load_identities(std::slice::from_ref(&secret))
                .unwrap()
                .len(),
            1
        );
        // A secret key given as a recipient is refused, without echoing it.
        let err = load_recipients(&[secret.display().to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("age-keygen -y"), "{err}");
        assert!(!err.contains("AGE-SECRET-KEY-1"), "{err}");
        let recips = dir.path().join("recipients.txt");
        std::fs::write(&recips, format!("# ops\n{}\n\n", id.to_public())).unwrap();
        std::fs::set_permissions(&recips, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(load_recipients(&[recips.display().to_string()]).is_err());
        std::fs::set_permissions(&recips, std::fs::Permissions::from_mode(0o644)).unwrap();
        let r = load_recipients(&[recips.display().to_string(), id.to_public().to_string()]);
        assert_eq!(r.unwrap().len(), 2);
        assert!(load_recipients(&["age1nope".to_string()]).is_err());
    }
}
