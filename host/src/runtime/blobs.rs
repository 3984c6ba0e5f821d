//! The blobs capability: data kept in the host for a session (response
//! bodies kept whole, files handed to a run, bodies a connector builds)
//! that the guest reads and writes in chunks, so a file larger than the
//! guest's memory passes through. A session's blobs are bounded in count
//! and total size; reaching the quota fails the operation with the limit
//! named.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::bindings::wharf::connector::blobs::{BlobError, Host};
use super::bindings::wharf::connector::types::InputFile;
use super::log::CallLog;

/// The largest chunk `read` returns.
pub const MAX_CHUNK: u32 = 4 << 20;
/// At most this many blobs in a session.
pub const MAX_BLOBS: usize = 10_000;

/// A file handed to a session.
#[derive(Clone, Debug)]
pub struct Input {
    /// The file's name.
    pub name: String,
    /// Its media type.
    pub content_type: Option<String>,
    /// Its bytes.
    pub bytes: Arc<Vec<u8>>,
}

struct Blob {
    data: Arc<Vec<u8>>,
    /// Created by the guest in this session (and so appendable).
    writable: bool,
    /// A response body kept with `keep-body`, counted against the quota:
    /// released once `wharf:pages` staged its records.
    kept_body: bool,
}

/// A session's blobs, with their quota.
pub struct BlobStore {
    quota: u64,
    inner: Mutex<Inner>,
    inputs: Vec<InputFile>,
}

struct Inner {
    blobs: HashMap<String, Blob>,
    used: u64,
    next: u64,
}

impl BlobStore {
    /// A store of at most `quota` bytes, holding `inputs` as blobs.
    pub fn new(quota: u64, inputs: Vec<Input>) -> Self {
        let mut inner = Inner {
            blobs: HashMap::new(),
            used: 0,
            next: 0,
        };
        let mut files = Vec::new();
        for input in inputs {
            inner.next += 1;
            let id = format!("input-{}", inner.next);
            files.push(InputFile {
                name: input.name,
                content_type: input.content_type,
                size: input.bytes.len() as u64,
                blob: id.clone(),
            });
            // Inputs were accepted by the API under its own limit; they do
            // not count against what the connector may create.
            inner.blobs.insert(
                id,
                Blob {
                    data: input.bytes,
                    writable: false,
                    kept_body: false,
                },
            );
        }
        Self {
            quota,
            inner: Mutex::new(inner),
            inputs: files,
        }
    }

    fn quota_error(&self, more: u64, used: u64) -> BlobError {
        BlobError::Quota(format!(
            "the run's blobs would hold {} bytes; the limit is {} (blob_bytes)",
            used + more,
            self.quota
        ))
    }

    /// Keep `data` (a response body) as a new blob.
    pub fn keep(&self, data: Vec<u8>) -> Result<String, BlobError> {
        let mut inner = self.inner.lock().expect("blob lock");
        let len = data.len() as u64;
        if inner.used + len > self.quota {
            return Err(self.quota_error(len, inner.used));
        }
        if inner.blobs.len() >= MAX_BLOBS {
            return Err(BlobError::Quota(format!(
                "at most {MAX_BLOBS} blobs per run"
            )));
        }
        inner.used += len;
        inner.next += 1;
        let id = format!("blob-{}", inner.next);
        inner.blobs.insert(
            id.clone(),
            Blob {
                data: Arc::new(data),
                writable: false,
                kept_body: true,
            },
        );
        Ok(id)
    }

    /// Take in a blob of another session of the same run (a source's file
    /// a record refers to, handed to the destination): read-only, and not
    /// counted again (the session that made it counted it). Its id here.
    pub fn adopt(&self, data: Arc<Vec<u8>>) -> String {
        let mut inner = self.inner.lock().expect("blob lock");
        inner.next += 1;
        let id = format!("shared-{}", inner.next);
        inner.blobs.insert(
            id.clone(),
            Blob {
                data,
                writable: false,
                kept_body: false,
            },
        );
        id
    }

    /// The bytes of a blob (to send as a request body).
    pub fn bytes(&self, id: &str) -> Result<Arc<Vec<u8>>, BlobError> {
        let inner = self.inner.lock().expect("blob lock");
        inner
            .blobs
            .get(id)
            .map(|b| b.data.clone())
            .ok_or(BlobError::Unknown)
    }

    fn size(&self, id: &str) -> Result<u64, BlobError> {
        Ok(self.bytes(id)?.len() as u64)
    }

    fn read(&self, id: &str, offset: u64, len: u32) -> Result<Vec<u8>, BlobError> {
        if len > MAX_CHUNK {
            return Err(BlobError::Invalid(format!(
                "read at most {MAX_CHUNK} bytes at a time"
            )));
        }
        let data = self.bytes(id)?;
        let size = data.len() as u64;
        if offset > size {
            return Err(BlobError::Invalid(format!(
                "offset {offset} is past the end ({size} bytes)"
            )));
        }
        let end = (offset + u64::from(len)).min(size);
        Ok(data[offset as usize..end as usize].to_vec())
    }

    fn create(&self) -> Result<String, BlobError> {
        self.keep(Vec::new()).inspect(|id| {
            if let Some(b) = self.inner.lock().expect("blob lock").blobs.get_mut(id) {
                b.writable = true;
                b.kept_body = false;
            }
        })
    }

    fn append(&self, id: &str, data: &[u8]) -> Result<(), BlobError> {
        let mut inner = self.inner.lock().expect("blob lock");
        let used = inner.used;
        let more = data.len() as u64;
        if used + more > self.quota {
            return Err(self.quota_error(more, used));
        }
        let blob = inner.blobs.get_mut(id).ok_or(BlobError::Unknown)?;
        if !blob.writable {
            return Err(BlobError::Invalid(
                "only blobs created in this run with `create` can be appended to".into(),
            ));
        }
        Arc::make_mut(&mut blob.data).extend_from_slice(data);
        inner.used += more;
        Ok(())
    }

    /// Release `id` if it is a response body kept with `keep-body`: it is
    /// gone, and its bytes no longer count against the quota. Other blobs
    /// stay.
    pub fn release_kept_body(&self, id: &str) {
        let mut inner = self.inner.lock().expect("blob lock");
        if inner.blobs.get(id).is_some_and(|b| b.kept_body) {
            let blob = inner.blobs.remove(id).expect("just found");
            inner.used -= blob.data.len() as u64;
        }
    }

    /// Bytes held now (inputs aside).
    pub fn used(&self) -> u64 {
        self.inner.lock().expect("blob lock").used
    }
}

/// Per-call state behind `wharf:connector/blobs`.
pub struct BlobsState {
    pub(crate) store: Arc<BlobStore>,
    pub(crate) log: CallLog,
}

impl Host for BlobsState {
    async fn inputs(&mut self) -> wasmtime::Result<Vec<InputFile>> {
        Ok(self.store.inputs.clone())
    }

    async fn size(&mut self, blob: String) -> wasmtime::Result<Result<u64, BlobError>> {
        Ok(self.store.size(&blob))
    }

    async fn read(
        &mut self,
        blob: String,
        offset: u64,
        len: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, BlobError>> {
        Ok(self.store.read(&blob, offset, len))
    }

    async fn create(&mut self) -> wasmtime::Result<Result<String, BlobError>> {
        Ok(self.store.create())
    }

    async fn append(
        &mut self,
        blob: String,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<(), BlobError>> {
        let result = self.store.append(&blob, &data);
        if let Err(BlobError::Quota(why)) = &result {
            let _ = self
                .log
                .host_line(super::log::LogSource::Host, format!("blob refused: {why}"));
        }
        Ok(result)
    }
}
