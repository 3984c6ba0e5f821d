//! Reading and writing ZIP archives (with the `zip` feature): ANAF's e-Factura
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

/// Writes a ZIP archive of stored (uncompressed) entries: enough for the
/// files a connector makes (an xlsx workbook, a bundle of exports), and
/// readable by every ZIP reader.
#[derive(Debug, Default)]
pub struct Writer {
    out: Vec<u8>,
    central: Vec<u8>,
    count: u16,
}

/// CRC-32 (IEEE), as ZIP checks entries.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

impl Writer {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an entry.
    pub fn add(&mut self, name: &str, data: &[u8]) -> Result<()> {
        let size = u32::try_from(data.len()).map_err(|_| Error::fatal("a ZIP entry over 4 GiB"))?;
        let offset =
            u32::try_from(self.out.len()).map_err(|_| Error::fatal("a ZIP archive over 4 GiB"))?;
        let name_len =
            u16::try_from(name.len()).map_err(|_| Error::fatal("a ZIP entry name over 64 KiB"))?;
        let crc = crc32(data);
        let common = |h: &mut Vec<u8>| {
            // version 2.0, flags (bit 11: UTF-8 names), stored, no time.
            for v in [20u16, 0x0800, 0, 0, 0x21] {
                h.extend(v.to_le_bytes());
            }
            h.extend(crc.to_le_bytes());
            h.extend(size.to_le_bytes());
            h.extend(size.to_le_bytes());
            h.extend(name_len.to_le_bytes());
            h.extend(0u16.to_le_bytes());
        };
        self.out.extend(0x0403_4b50u32.to_le_bytes());
        common(&mut self.out);
        self.out.extend(name.as_bytes());
        self.out.extend(data);
        self.central.extend(0x0201_4b50u32.to_le_bytes());
        self.central.extend(20u16.to_le_bytes());
        common(&mut self.central);
        for v in [0u16, 0, 0] {
            self.central.extend(v.to_le_bytes());
        }
        self.central.extend(0u32.to_le_bytes());
        self.central.extend(offset.to_le_bytes());
        self.central.extend(name.as_bytes());
        self.count = self
            .count
            .checked_add(1)
            .ok_or_else(|| Error::fatal("over 65535 ZIP entries"))?;
        Ok(())
    }

    /// The archive's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        let start = self.out.len() as u32;
        let size = self.central.len() as u32;
        self.out.append(&mut self.central);
        self.out.extend(0x0605_4b50u32.to_le_bytes());
        for v in [0u16, 0, self.count, self.count] {
            self.out.extend(v.to_le_bytes());
        }
        self.out.extend(size.to_le_bytes());
        self.out.extend(start.to_le_bytes());
        self.out.extend(0u16.to_le_bytes());
        self.out
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
        let mut w = Writer::new();
        w.add("a.txt", b"hello").unwrap();
        w.add("dir/ü.xml", b"<x/>").unwrap();
        let bytes2 = w.finish();
        let back = Archive::new(&bytes2).unwrap();
        assert_eq!(back.names(), ["a.txt", "dir/ü.xml"]);
        assert_eq!(back.read("dir/ü.xml").unwrap(), b"<x/>");
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        // Truncated archives fail, they do not panic.
        for cut in [10, bytes.len() / 2, bytes.len() - 10] {
            let _ = Archive::new(&bytes[..cut]).and_then(|z| z.read("xl/workbook.xml"));
        }
    }
}
