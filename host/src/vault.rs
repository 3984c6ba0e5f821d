//! Secrets at rest: Fernet tokens under keys from `WHARF_SECRET_KEYS`.
//!
//! The variable holds a comma-separated list of Fernet keys: the first one
//! encrypts, all of them decrypt, so keys rotate without downtime (add the
//! new key in front, run `wharf admin rotate-secrets`, then drop the old
//! one). Without the variable, `wharf serve` generates a key into its data
//! directory (mode 0600) and warns that production should set it.
//!
//! Tokens carry their creation time; the `fernet` crate refuses tokens
//! stamped more than 60 s in the future, so nodes sharing a database must
//! keep their clocks within a minute of each other (NTP).

use std::path::Path;

use fernet::Fernet;
use sha2::{Digest, Sha256};

use crate::model::secret::SecretValue;

/// Where the keys came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `WHARF_SECRET_KEYS`.
    Environment,
    /// A key file in the data directory, read.
    File,
    /// A key file in the data directory, just created.
    Generated,
}

/// Why the vault could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// A key is not a Fernet key.
    #[error("secret key #{0} is not a Fernet key (32 bytes, URL-safe base64)")]
    BadKey(usize),
    /// No keys at all.
    #[error("no secret keys given")]
    NoKeys,
    /// A token no key can open: tampered, truncated, or encrypted under a key
    /// that is no longer configured.
    #[error(
        "a stored secret cannot be decrypted with the configured keys (tampered, or its key was removed from WHARF_SECRET_KEYS)"
    )]
    Undecryptable,
    /// The key file could not be read or written.
    #[error("secret key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Encrypts and decrypts secret values.
pub struct Vault {
    /// The first key encrypts; every key decrypts, in order.
    keys: Vec<Fernet>,
    fingerprint: String,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("primary_key", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

const KEY_FILE: &str = "secret.key";

impl Vault {
    /// A vault from a comma-separated key list; the first key encrypts.
    pub fn from_keys(list: &str) -> Result<Self, VaultError> {
        let keys: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .collect();
        let first = *keys.first().ok_or(VaultError::NoKeys)?;
        let keys = keys
            .iter()
            .enumerate()
            .map(|(i, k)| Fernet::new(k).ok_or(VaultError::BadKey(i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            keys,
            fingerprint: hex::encode(&Sha256::digest(first.as_bytes())[..4]),
        })
    }

    /// `WHARF_SECRET_KEYS` if set, else the key file in `data_dir`, created
    /// with mode 0600 if missing.
    pub fn load_or_create(
        env: Option<&str>,
        data_dir: &Path,
    ) -> Result<(Self, KeySource), VaultError> {
        if let Some(list) = env.filter(|l| !l.trim().is_empty()) {
            return Ok((Self::from_keys(list)?, KeySource::Environment));
        }
        let path = data_dir.join(KEY_FILE);
        let io = |source| VaultError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((Self::from_keys(text.trim())?, KeySource::File)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Fernet::generate_key();
                write_private(&path, &key).map_err(io)?;
                Ok((Self::from_keys(&key)?, KeySource::Generated))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A short fingerprint of the encrypting key, for logs.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Encrypt under the first key.
    pub fn encrypt(&self, value: &SecretValue) -> String {
        self.keys[0].encrypt(value.expose().as_bytes())
    }

    /// Decrypt with any configured key; fails closed.
    pub fn decrypt(&self, token: &str) -> Result<SecretValue, VaultError> {
        self.decrypt_with(|key| key.decrypt(token))
    }

    /// The first key that opens the token, its plaintext as UTF-8.
    fn decrypt_with(
        &self,
        open: impl Fn(&Fernet) -> Result<Vec<u8>, fernet::DecryptionError>,
    ) -> Result<SecretValue, VaultError> {
        let bytes = self
            .keys
            .iter()
            .find_map(|k| open(k).ok())
            .ok_or(VaultError::Undecryptable)?;
        let text = String::from_utf8(bytes).map_err(|_| VaultError::Undecryptable)?;
        Ok(SecretValue::new(text))
    }

    /// Decrypt as at `now` (Unix seconds) with a TTL: the Fernet
    /// specification's vectors are stamped in 1985.
    #[cfg(test)]
    fn decrypt_at(&self, token: &str, ttl: u64, now: u64) -> Result<SecretValue, VaultError> {
        self.decrypt_with(|key| key.decrypt_at_time(token, Some(ttl), now))
    }

    /// Whether a token was encrypted under another key than the first.
    pub fn needs_rotation(&self, token: &str) -> bool {
        self.keys[0].decrypt(token).is_err()
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())?;
    f.write_all(b"\n")
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Vector {
        token: String,
        now: String,
        ttl_sec: u64,
        secret: String,
        #[serde(default)]
        src: Option<String>,
        #[serde(default)]
        desc: Option<String>,
    }

    fn vectors(file: &str) -> Vec<Vector> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/vectors/fernet")
            .join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    /// RFC 3339 to Unix seconds, enough for the vectors' fixed format.
    fn unix(rfc3339: &str) -> u64 {
        let (date, rest) = rfc3339.split_once('T').unwrap();
        let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
        let (time, offset) = rest.split_at(8);
        let t: Vec<i64> = time.split(':').map(|x| x.parse().unwrap()).collect();
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let o: Vec<i64> = offset[1..].split(':').map(|x| x.parse().unwrap()).collect();
        let (y, m) = if d[1] <= 2 {
            (d[0] - 1, d[1] + 9)
        } else {
            (d[0], d[1] - 3)
        };
        let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + d[2] - 1 - 719_468;
        let secs =
            days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2] - sign * (o[0] * 3600 + o[1] * 60);
        secs as u64
    }

    #[test]
    fn spec_vectors_verify_through_the_vault() {
        for v in vectors("verify.json") {
            // As the newest key of a vault that also holds another one.
            let other = Fernet::generate_key();
            let vault = Vault::from_keys(&format!("{other},{}", v.secret)).unwrap();
            let out = vault.decrypt_at(&v.token, v.ttl_sec, unix(&v.now)).unwrap();
            assert_eq!(out.expose(), v.src.unwrap());
            assert!(vault.needs_rotation(&v.token));
        }
    }

    #[test]
    fn spec_vectors_that_must_fail_do_in_the_vault() {
        let all = vectors("invalid.json");
        assert!(all.len() > 5);
        for v in all {
            let vault = Vault::from_keys(&v.secret).unwrap();
            let r = vault.decrypt_at(&v.token, v.ttl_sec, unix(&v.now));
            assert!(
                matches!(r, Err(VaultError::Undecryptable)),
                "{:?} must fail",
                v.desc
            );
        }
    }

    #[test]
    fn rotation_and_tampering() {
        let old = Fernet::generate_key();
        let new = Fernet::generate_key();
        let before = Vault::from_keys(&old).unwrap();
        let token = before.encrypt(&SecretValue::new("hunter2"));
        assert!(!token.contains("hunter2"));
        let after = Vault::from_keys(&format!("{new},{old}")).unwrap();
        assert_eq!(after.decrypt(&token).unwrap().expose(), "hunter2");
        assert!(after.needs_rotation(&token));
        let rotated = after.encrypt(&after.decrypt(&token).unwrap());
        assert!(!after.needs_rotation(&rotated));
        let only_new = Vault::from_keys(&new).unwrap();
        assert!(matches!(
            only_new.decrypt(&token),
            Err(VaultError::Undecryptable)
        ));

        let mut tampered = rotated.into_bytes();
        let i = tampered.len() / 2;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(matches!(
            after.decrypt(&tampered),
            Err(VaultError::Undecryptable)
        ));
        assert!(matches!(
            Vault::from_keys("not-a-key"),
            Err(VaultError::BadKey(1))
        ));
        assert!(matches!(Vault::from_keys(""), Err(VaultError::NoKeys)));
    }

    #[test]
    fn generated_key_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, source) = Vault::load_or_create(None, dir.path()).unwrap();
        assert_eq!(source, KeySource::Generated);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (b, source) = Vault::load_or_create(None, dir.path()).unwrap();
        assert_eq!(source, KeySource::File);
        let token = a.encrypt(&SecretValue::new("x"));
        assert_eq!(b.decrypt(&token).unwrap().expose(), "x");
    }
}
