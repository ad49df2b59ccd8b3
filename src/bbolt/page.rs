//! bbolt pages and their elements (bbolt `page.go`, v1.3.6 – v1.4.x). All integers little-endian.
//!
//! ```text
//! page header (16 bytes, every page)
//!   0  u64 id         must equal the page's position (offset / page size)
//!   8  u16 flags      0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist
//!  10  u16 count      elements (branch/leaf) or page ids (freelist)
//!  12  u32 overflow   further contiguous pages holding this page's data (no headers of their own)
//!
//! branch element (16 bytes, at 16 + 16·i)      leaf element (16 bytes, at 16 + 16·i)
//!   0  u32 pos    key offset from this element   0  u32 flags  0x01 = value is a bucket header
//!   4  u32 ksize                                 4  u32 pos    key offset from this element
//!   8  u64 pgid   child page                     8  u32 ksize
//!                                               12  u32 vsize  value follows the key
//! ```

use super::Corruption;

pub const HEADER: usize = 16;
pub const ELEMENT: usize = 16;
pub const BRANCH: u16 = 0x01;
pub const LEAF: u16 = 0x02;
pub(crate) const META: u16 = 0x04;
pub(crate) const FREELIST: u16 = 0x10;
/// Leaf element flag: the value is a bucket header (bbolt `bucketLeafFlag`).
pub(crate) const BUCKET_LEAF: u32 = 0x01;

pub(crate) fn le_u16(b: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    if let Some(s) = b.get(at..at + 2) {
        a.copy_from_slice(s);
    }
    u16::from_le_bytes(a)
}

pub(crate) fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_le_bytes(a)
}

pub(crate) fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_le_bytes(a)
}

/// The 16-byte header of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub id: u64,
    pub flags: u16,
    pub count: u16,
    pub overflow: u32,
}

impl Header {
    /// Parses a header; `buf` must hold at least 16 bytes (callers read whole pages).
    pub fn parse(buf: &[u8]) -> Header {
        Header {
            id: le_u64(buf, 0),
            flags: le_u16(buf, 8),
            count: le_u16(buf, 10),
            overflow: le_u32(buf, 12),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self.flags {
            BRANCH => "branch",
            LEAF => "leaf",
            META => "meta",
            FREELIST => "freelist",
            _ => "unknown",
        }
    }
}

/// One element of a leaf page.
#[derive(Debug, Clone, Copy)]
pub struct LeafElement<'a> {
    pub flags: u32,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// One element of a branch page.
#[derive(Debug, Clone, Copy)]
pub struct BranchElement<'a> {
    pub key: &'a [u8],
    pub child: u64,
}

/// Bounds-checks `[start, start + len)` inside `buf` and returns it.
fn span<'a>(
    buf: &'a [u8],
    page: u64,
    index: usize,
    what: &'static str,
    start: u64,
    len: u64,
) -> Result<&'a [u8], Corruption> {
    let end = start.saturating_add(len);
    if end > buf.len() as u64 {
        return Err(Corruption::ElementOutOfBounds {
            page,
            index,
            what,
            end,
            limit: buf.len() as u64,
        });
    }
    Ok(&buf[start as usize..end as usize])
}

/// Checks that the element array of a page fits in `buf`.
fn elements_fit(buf: &[u8], page: u64, count: usize) -> Result<(), Corruption> {
    let end = (HEADER + count * ELEMENT) as u64;
    if end > buf.len() as u64 {
        return Err(Corruption::ElementOutOfBounds {
            page,
            index: count.saturating_sub(1),
            what: "element header",
            end,
            limit: buf.len() as u64,
        });
    }
    Ok(())
}

/// The elements of a leaf page image (`buf` = header + body, overflow included). `page` is the id
/// used in messages.
pub fn leaf_elements(buf: &[u8], page: u64) -> Result<Vec<LeafElement<'_>>, Corruption> {
    let h = Header::parse(buf);
    let count = h.count as usize;
    elements_fit(buf, page, count)?;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let at = HEADER + i * ELEMENT;
        let flags = le_u32(buf, at);
        let pos = le_u32(buf, at + 4) as u64;
        let ksize = le_u32(buf, at + 8) as u64;
        let vsize = le_u32(buf, at + 12) as u64;
        let key_at = at as u64 + pos;
        let key = span(buf, page, i, "key", key_at, ksize)?;
        let value = span(buf, page, i, "value", key_at + ksize, vsize)?;
        out.push(LeafElement { flags, key, value });
    }
    Ok(out)
}

/// The elements of a branch page image.
pub fn branch_elements(buf: &[u8], page: u64) -> Result<Vec<BranchElement<'_>>, Corruption> {
    let h = Header::parse(buf);
    let count = h.count as usize;
    elements_fit(buf, page, count)?;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let at = HEADER + i * ELEMENT;
        let pos = le_u32(buf, at) as u64;
        let ksize = le_u32(buf, at + 4) as u64;
        let child = le_u64(buf, at + 8);
        let key = span(buf, page, i, "key", at as u64 + pos, ksize)?;
        out.push(BranchElement { key, child });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(elems: &[(u32, &[u8], &[u8])]) -> Vec<u8> {
        let mut buf = vec![0u8; HEADER + ELEMENT * elems.len()];
        buf[8..10].copy_from_slice(&LEAF.to_le_bytes());
        buf[10..12].copy_from_slice(&(elems.len() as u16).to_le_bytes());
        for (i, (flags, k, v)) in elems.iter().enumerate() {
            let at = HEADER + i * ELEMENT;
            let pos = (buf.len() - at) as u32;
            buf[at..at + 4].copy_from_slice(&flags.to_le_bytes());
            buf[at + 4..at + 8].copy_from_slice(&pos.to_le_bytes());
            buf[at + 8..at + 12].copy_from_slice(&(k.len() as u32).to_le_bytes());
            buf[at + 12..at + 16].copy_from_slice(&(v.len() as u32).to_le_bytes());
            buf.extend_from_slice(k);
            buf.extend_from_slice(v);
        }
        buf
    }

    #[test]
    fn leaf_positions_are_relative_to_each_element() {
        let buf = leaf(&[(0, b"a", b"1"), (1, b"bb", b"22")]);
        let e = leaf_elements(&buf, 5).unwrap();
        assert_eq!(
            (e[0].key, e[0].value, e[0].flags),
            (&b"a"[..], &b"1"[..], 0)
        );
        assert_eq!(
            (e[1].key, e[1].value, e[1].flags),
            (&b"bb"[..], &b"22"[..], 1)
        );
    }

    #[test]
    fn out_of_bounds_elements_name_page_element_and_values() {
        let mut buf = leaf(&[(0, b"a", b"1")]);
        buf[HEADER + 12..HEADER + 16].copy_from_slice(&1000u32.to_le_bytes());
        let e = leaf_elements(&buf, 812).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "page 812: element 0 value ends at 1033, beyond the page's {} bytes",
                buf.len()
            )
        );
        let mut buf = leaf(&[(0, b"a", b"1")]);
        buf[10..12].copy_from_slice(&500u16.to_le_bytes());
        assert!(matches!(
            leaf_elements(&buf, 1),
            Err(Corruption::ElementOutOfBounds {
                what: "element header",
                ..
            })
        ));
    }

    #[test]
    fn short_buffers_never_panic() {
        for n in 0..40 {
            let buf = vec![0xFFu8; n];
            let _ = Header::parse(&buf);
            let _ = leaf_elements(&buf, 0);
            let _ = branch_elements(&buf, 0);
        }
    }
}
