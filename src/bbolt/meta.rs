//! bbolt meta pages 0 and 1 (bbolt `db.go` `meta`). The body follows the 16-byte page header:
//!
//! ```text
//! page offset  size  field
//!      16        4   magic     0xED0CDAED
//!      20        4   version   2
//!      24        4   pageSize
//!      28        4   flags
//!      32        8   root      root bucket's root page id
//!      40        8   sequence  root bucket's sequence
//!      48        8   freelist  freelist page id, or 0xFFFF_FFFF_FFFF_FFFF (etcd: no freelist)
//!      56        8   pgid      high-water mark: pages in use
//!      64        8   txid
//!      72        8   checksum  FNV-1a 64 over page offsets 16..72
//! ```

use super::page::{le_u32, le_u64, Header, META};

pub(crate) const MAGIC: u32 = 0xED0C_DAED;
pub const VERSION: u32 = 2;
pub(crate) const NO_FREELIST: u64 = u64::MAX;
/// Smallest and largest page sizes we accept (bbolt accepts any OS page size; these bound memory).
pub(crate) const MIN_PAGE_SIZE: u32 = 512;
pub(crate) const MAX_PAGE_SIZE: u32 = 64 * 1024;
/// Bytes of a meta page we need: header + meta body.
pub(crate) const META_END: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Which meta page this is (0 or 1).
    pub page: u64,
    pub page_size: u32,
    pub flags: u32,
    pub root: u64,
    pub sequence: u64,
    pub freelist: u64,
    pub pgid: u64,
    pub txid: u64,
    pub checksum: u64,
}

/// FNV-1a, 64 bit (Go `hash/fnv` New64a).
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl Meta {
    /// Parses and validates the meta page at the start of `buf` (at least 80 bytes), expected to be
    /// page `page`. The error says why it is not valid.
    pub fn parse(buf: &[u8], page: u64) -> Result<Meta, String> {
        if buf.len() < META_END {
            return Err(format!(
                "only {} bytes, a meta page needs {META_END}",
                buf.len()
            ));
        }
        let h = Header::parse(buf);
        let magic = le_u32(buf, 16);
        if magic != MAGIC {
            return Err(format!("magic {magic:#010x}, expected {MAGIC:#010x}"));
        }
        let version = le_u32(buf, 20);
        if version != VERSION {
            return Err(format!("version {version}, expected {VERSION}"));
        }
        let checksum = le_u64(buf, 72);
        let computed = fnv1a64(&buf[16..72]);
        if checksum != computed {
            return Err(format!(
                "checksum {checksum:#018x}, computed {computed:#018x}"
            ));
        }
        if h.flags != META {
            return Err(format!(
                "page flags {:#06x}, expected meta (0x0004)",
                h.flags
            ));
        }
        if h.id != page {
            return Err(format!("page id {}, expected {page}", h.id));
        }
        let page_size = le_u32(buf, 24);
        if !(MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(format!(
                "page size {page_size} is not a power of two in 512..=65536"
            ));
        }
        let meta = Meta {
            page,
            page_size,
            flags: le_u32(buf, 28),
            root: le_u64(buf, 32),
            sequence: le_u64(buf, 40),
            freelist: le_u64(buf, 48),
            pgid: le_u64(buf, 56),
            txid: le_u64(buf, 64),
            checksum,
        };
        if meta.pgid < 3 {
            return Err(format!(
                "high-water mark {} leaves no room for a root page",
                meta.pgid
            ));
        }
        if meta.root < 2 || meta.root >= meta.pgid {
            return Err(format!(
                "root page {} outside the data pages 2..{}",
                meta.root, meta.pgid
            ));
        }
        Ok(meta)
    }

    /// `Tx.Size()`: bytes up to the high-water mark.
    pub fn size(&self) -> u64 {
        self.pgid.saturating_mul(self.page_size as u64)
    }
}

/// A whole meta page as etcd's bbolt writes it (`Tx.WriteTo`, docs/formats.md §2.10): header
/// `id = page`, `flags = 0x04`; flags 0, root sequence 0, no freelist page (etcd's
/// `NoFreelistSync`), the checksum over offsets 16..72; zeros after offset 80 up to `page_size`
/// bytes (at least [`META_END`]).
pub(crate) fn meta_page(page: u64, page_size: u32, root: u64, pgid: u64, txid: u64) -> Vec<u8> {
    let mut b = vec![0u8; (page_size as usize).max(META_END)];
    b[0..8].copy_from_slice(&page.to_le_bytes());
    b[8..10].copy_from_slice(&META.to_le_bytes());
    b[16..20].copy_from_slice(&MAGIC.to_le_bytes());
    b[20..24].copy_from_slice(&VERSION.to_le_bytes());
    b[24..28].copy_from_slice(&page_size.to_le_bytes());
    b[32..40].copy_from_slice(&root.to_le_bytes());
    b[48..56].copy_from_slice(&NO_FREELIST.to_le_bytes());
    b[56..64].copy_from_slice(&pgid.to_le_bytes());
    b[64..72].copy_from_slice(&txid.to_le_bytes());
    let sum = fnv1a64(&b[16..72]);
    b[72..80].copy_from_slice(&sum.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_go() {
        // Go: fnv.New64a() over "" and "a".
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }

    #[test]
    fn valid_meta_parses_and_every_damage_is_named() {
        let good = meta_page(1, 4096, 3, 10, 7);
        let m = Meta::parse(&good, 1).unwrap();
        assert_eq!((m.root, m.pgid, m.txid, m.size()), (3, 10, 7, 40960));
        let mut bad = good.clone();
        bad[60] ^= 1;
        assert!(Meta::parse(&bad, 1).unwrap_err().starts_with("checksum"));
        let mut bad = good.clone();
        bad[16] ^= 1;
        assert!(Meta::parse(&bad, 1).unwrap_err().starts_with("magic"));
        assert!(Meta::parse(&good, 0).unwrap_err().starts_with("page id 1"));
        assert!(Meta::parse(&good[..79], 1).is_err());
        let odd = meta_page(0, 3000, 3, 10, 7);
        assert!(Meta::parse(&odd, 0).unwrap_err().contains("page size 3000"));
        let rootless = meta_page(0, 4096, 12, 10, 7);
        assert!(Meta::parse(&rootless, 0)
            .unwrap_err()
            .contains("root page 12"));
    }
}
