//! Blobs: data kept in the host (a response body kept whole, a run's input
//! file, a body you build), read and written in chunks, so a file larger
//! than the connector's memory can pass through.

use crate::bindings::wharf::connector::blobs as wit;
use crate::error::{Error, Result};

/// How much [`Blob::chunks`] reads at a time.
pub const CHUNK: u32 = 1 << 20;

/// A blob of the current run, by id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Blob(pub String);

/// A file handed to the run (an upload): its name, type and blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputFile {
    /// The file's name (`orders.csv`).
    pub name: String,
    /// Its media type, if known.
    pub content_type: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Where to read it.
    pub blob: Blob,
}

fn error(e: wit::BlobError) -> Error {
    match e {
        wit::BlobError::Unknown => Error::Fatal("no such blob in this run".into()),
        wit::BlobError::Quota(m) => Error::Fatal(format!("blob quota: {m}")),
        wit::BlobError::Invalid(m) => Error::Fatal(format!("blob: {m}")),
    }
}

/// The files handed to this run.
pub fn inputs() -> Vec<InputFile> {
    wit::inputs()
        .into_iter()
        .map(|f| InputFile {
            name: f.name,
            content_type: f.content_type,
            size: f.size,
            blob: Blob(f.blob),
        })
        .collect()
}

impl Blob {
    /// A new, empty blob to write into.
    pub fn create() -> Result<Self> {
        wit::create().map(Blob).map_err(error)
    }

    /// Its size in bytes.
    pub fn size(&self) -> Result<u64> {
        wit::size(&self.0).map_err(error)
    }

    /// At most `len` bytes at `offset`.
    pub fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>> {
        wit::read(&self.0, offset, len).map_err(error)
    }

    /// Append to a blob created in this run ([`CHUNK`] at a time: what a
    /// guest hands the host in one call is bounded).
    pub fn append(&self, data: &[u8]) -> Result<()> {
        for chunk in data.chunks(CHUNK as usize) {
            wit::append(&self.0, chunk).map_err(error)?;
        }
        Ok(())
    }

    /// Its chunks, in order.
    pub fn chunks(&self) -> impl Iterator<Item = Result<Vec<u8>>> + '_ {
        let mut offset = 0u64;
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            match self.read(offset, CHUNK) {
                Ok(chunk) if chunk.is_empty() => None,
                Ok(chunk) => {
                    offset += chunk.len() as u64;
                    done = chunk.len() < CHUNK as usize;
                    Some(Ok(chunk))
                }
                Err(e) => {
                    done = true;
                    Some(Err(e))
                }
            }
        })
    }

    /// Its lines (for CSV and line-delimited files), read chunk by chunk:
    /// the whole file is never in memory at once.
    pub fn lines(&self) -> impl Iterator<Item = Result<String>> + '_ {
        let mut chunks = self.chunks();
        let mut buffer: Vec<u8> = Vec::new();
        let mut finished = false;
        std::iter::from_fn(move || {
            loop {
                if let Some(i) = buffer.iter().position(|b| *b == b'\n') {
                    let mut line: Vec<u8> = buffer.drain(..=i).collect();
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    return Some(Ok(String::from_utf8_lossy(&line).into_owned()));
                }
                if finished {
                    if buffer.is_empty() {
                        return None;
                    }
                    let rest = std::mem::take(&mut buffer);
                    return Some(Ok(String::from_utf8_lossy(&rest).into_owned()));
                }
                match chunks.next() {
                    Some(Ok(c)) => buffer.extend_from_slice(&c),
                    Some(Err(e)) => return Some(Err(e)),
                    None => finished = true,
                }
            }
        })
    }

    /// The whole blob (for small ones).
    pub fn read_all(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for chunk in self.chunks() {
            out.extend(chunk?);
        }
        Ok(out)
    }
}
