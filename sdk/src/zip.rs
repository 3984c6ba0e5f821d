//! Reading ZIP archives (with the `zip` feature): ANAF's e-Factura
//! packages, xlsx workbooks, zipped exports. Entries are found through the
//! central directory (not by scanning local headers, which a streamed
//! archive may leave without sizes) and inflated when deflated.
//!
//! ```no_run
//! use wharf_sdk::zip::Archive;
//! # fn f(bytes: &[u8]) -> wharf_sdk::Result<()> {
//! let zip = Archive::new(bytes)?;
//! for name in zip.names() {
//!     let content = zip.read(name)?;
//!     # let _ = content;
//! }
//! # Ok(()) }
//! ```

use crate::{Error, Result};

/// An entry of the central directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its name (a path inside the archive).
    pub name: String,
    method: u16,
    compressed: usize,
    size: usize,
    local_header: usize,
}

/// A ZIP archive held in memory.
#[derive(Debug)]
pub struct Archive<'a> {
    bytes: &'a [u8],
    entries: Vec<Entry>,
}

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| Error::fatal("the ZIP archive is truncated"))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| Error::fatal("the ZIP archive is truncated"))
}

impl<'a> Archive<'a> {
    /// Read the central directory of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        // The end record is in the last 64 KiB + 22 bytes (its comment).
        let from = bytes.len().saturating_sub(65_557);
        let end = (from..bytes.len().saturating_sub(21))
            .rev()
            .find(|&i| bytes[i..].starts_with(&[0x50, 0x4b, 0x05, 0x06]))
            .ok_or_else(|| Error::fatal("not a ZIP archive (no end of central directory)"))?;
        let count = usize::from(u16_at(bytes, end + 10)?);
        let mut at = u32_at(bytes, end + 16)? as usize;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            if u32_at(bytes, at)? != 0x0201_4b50 {
                return Err(Error::fatal("the ZIP central directory is damaged"));
            }
            let name_len = usize::from(u16_at(bytes, at + 28)?);
            let extra = usize::from(u16_at(bytes, at + 30)?);
            let comment = usize::from(u16_at(bytes, at + 32)?);
            let name = bytes
                .get(at + 46..at + 46 + name_len)
                .ok_or_else(|| Error::fatal("the ZIP archive is truncated"))?;
            entries.push(Entry {
                name: String::from_utf8_lossy(name).into_owned(),
                method: u16_at(bytes, at + 10)?,
                compressed: u32_at(bytes, at + 20)? as usize,
                size: u32_at(bytes, at + 24)? as usize,
                local_header: u32_at(bytes, at + 42)? as usize,
            });
            at += 46 + name_len + extra + comment;
        }
        Ok(Self { bytes, entries })
    }

    /// The entries' names, in archive order.
    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// The content of the entry named `name`.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        let entry = self
            .entries
            .iter()
            .find(|e| e.name == name)
            .ok_or_else(|| Error::Fatal(format!("no `{name}` in the ZIP archive")))?;
        let at = entry.local_header;
        if u32_at(self.bytes, at)? != 0x0403_4b50 {
            return Err(Error::fatal("a ZIP entry's header is damaged"));
        }
        let start = at
            + 30
            + usize::from(u16_at(self.bytes, at + 26)?)
            + usize::from(u16_at(self.bytes, at + 28)?);
        let data = self
            .bytes
            .get(start..start + entry.compressed)
            .ok_or_else(|| Error::fatal("the ZIP archive is truncated"))?;
        match entry.method {
            0 => Ok(data.to_vec()),
            8 => {
                let out = miniz_oxide::inflate::decompress_to_vec_with_limit(
                    data,
                    entry.size.max(1) * 2 + 1024,
                )
                .map_err(|e| Error::Fatal(format!("`{name}` does not inflate: {e:?}")))?;
                Ok(out)
            }
            m => Err(Error::Fatal(format!(
                "`{name}` uses ZIP compression method {m}, which is not supported"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workbook_saved_by_excel() {
        let bytes = include_bytes!("../../tests/fixtures/files/workbook.xlsx");
        let zip = Archive::new(bytes).unwrap();
        assert!(
            zip.names().contains(&"xl/workbook.xml"),
            "{:?}",
            zip.names()
        );
        let workbook = String::from_utf8(zip.read("xl/workbook.xml").unwrap()).unwrap();
        assert!(workbook.contains("DataSheet"), "{workbook}");
        assert!(zip.read("nope").is_err());
        assert!(Archive::new(b"not a zip").is_err());
        // Truncated archives fail, they do not panic.
        for cut in [10, bytes.len() / 2, bytes.len() - 10] {
            let _ = Archive::new(&bytes[..cut]).and_then(|z| z.read("xl/workbook.xml"));
        }
    }
}
