//! Publisher signatures over connector components, and the rule that
//! decides whether an upload may be registered.
//!
//! A signature is a detached file (`todos.wasm.sig`) beside the component,
//! not a custom section inside it: a section would change the bytes, so the
//! digest that names the connector everywhere (registry, runs, cassettes)
//! would no longer be the digest of what was signed, and verifying would
//! mean re-serializing the component without it. Like minisign's
//! `.minisig` and cosign's signatures over an image digest, the publisher
//! signs a short statement about the bytes rather than the bytes: the
//! SHA-256 digest, the connector's name and its version, under a
//! domain-separation prefix so the signature cannot be passed off as any
//! other kind of message. The key is Ed25519; the file names the key by a
//! short id (like minisign's key id) so a server that trusts several
//! publishers knows which key to try.
//!
//! The file is JSON so a person can read what it claims; the claims in it
//! are only hints for a clear error; what is verified is the statement
//! rebuilt from the component itself.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `format` of a signature file.
pub const FORMAT: &str = "wharf-signature/1";

/// Prefix of a public key's text form.
const PUBLIC_PREFIX: &str = "ed25519:";

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), as `openssl
/// pkey -pubout` writes it; the 32-byte key follows.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The statement a publisher signs.
fn statement(digest: &str, name: &str, version: &str) -> Vec<u8> {
    format!("wharf-connector-signature/1\ndigest sha256:{digest}\nname {name}\nversion {version}\n")
        .into_bytes()
}

/// A publisher's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// `ed25519:<base64>` (what `wharf connector keygen` writes), or a PEM
    /// `PUBLIC KEY` as OpenSSL writes one for Ed25519.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let der = if let Some(b64) = text.strip_prefix(PUBLIC_PREFIX) {
            STANDARD
                .decode(b64.trim())
                .map_err(|e| format!("the key after `{PUBLIC_PREFIX}` is not base64: {e}"))?
        } else if text.starts_with("-----BEGIN PUBLIC KEY-----") {
            let spki = pem_body(text, "PUBLIC KEY")?;
            spki.strip_prefix(&SPKI_PREFIX[..])
                .ok_or("the PEM public key is not an Ed25519 key")?
                .to_vec()
        } else {
            return Err(format!(
                "expected `{PUBLIC_PREFIX}<base64>` or a PEM public key"
            ));
        };
        let bytes: [u8; 32] = der
            .try_into()
            .map_err(|b: Vec<u8>| format!("an Ed25519 public key is 32 bytes, not {}", b.len()))?;
        Ok(Self(bytes))
    }

    /// The short id a signature file names its key by: the first 8 bytes of
    /// the key's SHA-256, in hex.
    pub fn id(&self) -> String {
        hex::encode(&Sha256::digest(self.0)[..8])
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", STANDARD.encode(self.0))
    }
}

/// The base64 body of a PEM block labelled `label`.
fn pem_body(text: &str, label: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let inner = text
        .trim()
        .strip_prefix(&begin)
        .and_then(|t| t.trim_end().strip_suffix(&end))
        .ok_or_else(|| format!("expected one PEM `{label}` block"))?;
    let b64: String = inner.split_whitespace().collect();
    STANDARD
        .decode(b64)
        .map_err(|e| format!("the PEM body is not base64: {e}"))
}

/// A publisher's private key, from a PEM `PRIVATE KEY` (PKCS#8) file:
/// the one `wharf connector keygen` writes, or `openssl genpkey -algorithm
/// ed25519`.
pub struct SigningKey(Ed25519KeyPair);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.public().id())
    }
}

impl SigningKey {
    /// A new random key, and its PEM text.
    pub fn generate() -> Result<(Self, String), String> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| "the system's random source failed".to_string())?;
        let key = Self::from_pkcs8(pkcs8.as_ref())?;
        Ok((key, pem("PRIVATE KEY", pkcs8.as_ref())))
    }

    /// Parse a PEM `PRIVATE KEY` block.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::from_pkcs8(&pem_body(text, "PRIVATE KEY")?)
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map(Self)
            .map_err(|e| format!("not an Ed25519 private key (PKCS#8): {e}"))
    }

    /// Its public half.
    pub fn public(&self) -> PublicKey {
        let bytes: [u8; 32] = self
            .0
            .public_key()
            .as_ref()
            .try_into()
            .expect("Ed25519 public keys are 32 bytes");
        PublicKey(bytes)
    }

    /// Sign the component `digest` (hex SHA-256) of `name@version`.
    pub fn sign(&self, digest: &str, name: &str, version: &str) -> SignatureFile {
        let sig = self.0.sign(&statement(digest, name, version));
        SignatureFile {
            format: FORMAT.to_string(),
            key_id: self.public().id(),
            name: name.to_string(),
            version: version.to_string(),
            digest: format!("sha256:{digest}"),
            signature: STANDARD.encode(sig.as_ref()),
        }
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A detached signature file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SignatureFile {
    /// [`FORMAT`].
    pub format: String,
    /// [`PublicKey::id`] of the signing key.
    pub key_id: String,
    /// The connector's name, as signed.
    pub name: String,
    /// Its version, as signed.
    pub version: String,
    /// `sha256:<hex>` of the component, as signed.
    pub digest: String,
    /// The Ed25519 signature over the statement, base64.
    pub signature: String,
}

impl SignatureFile {
    /// Parse a signature file's text.
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        let file: Self = serde_json::from_str(text)
            .map_err(|e| SignatureError::Malformed(format!("not a signature file: {e}")))?;
        if file.format != FORMAT {
            return Err(SignatureError::Malformed(format!(
                "format `{}` is not `{FORMAT}`",
                file.format
            )));
        }
        // The fields are shown back (API, console, errors): only their
        // expected shapes, never arbitrary text.
        let hex = |s: &str, len: usize| {
            s.len() == len
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        if !hex(&file.key_id, 16) {
            return Err(SignatureError::Malformed(
                "`key_id` must be 16 lowercase hex digits".into(),
            ));
        }
        if !file
            .digest
            .strip_prefix("sha256:")
            .is_some_and(|d| hex(d, 64))
        {
            return Err(SignatureError::Malformed(
                "`digest` must be `sha256:` and 64 lowercase hex digits".into(),
            ));
        }
        Ok(file)
    }

    /// The file's text (pretty JSON, one trailing newline).
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("signature file serializes");
        text.push('\n');
        text
    }
}

/// Where a registered connector came from, as far as signatures say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// Signed by a trusted publisher's key, and the signature verifies.
    Verified {
        /// The name the server trusts the key under.
        publisher: String,
        /// The key's id.
        key_id: String,
    },
    /// Signed by a key this server does not trust (allowed only when
    /// unsigned uploads are).
    UnknownPublisher {
        /// The key's id.
        key_id: String,
    },
    /// No signature.
    Unsigned,
}

impl Provenance {
    /// `verified`, `unknown-publisher` or `unsigned`.
    pub fn status(&self) -> &'static str {
        match self {
            Self::Verified { .. } => "verified",
            Self::UnknownPublisher { .. } => "unknown-publisher",
            Self::Unsigned => "unsigned",
        }
    }
}

/// Why a signature (or its absence) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not a signature file.
    #[error("{0}")]
    Malformed(String),
    /// The file claims another component, name or version.
    #[error(
        "the signature is for {claimed}, but this component is {actual}: sign the file you upload"
    )]
    OtherComponent {
        /// What the file claims.
        claimed: String,
        /// What was uploaded.
        actual: String,
    },
    /// The signature does not verify under the trusted key it names: the
    /// component or the file was changed after signing, or forged.
    #[error(
        "the signature does not verify under {publisher}'s key {key_id}: the component or its signature was changed after signing"
    )]
    Invalid {
        /// The trusted publisher whose key it names.
        publisher: String,
        /// The key id.
        key_id: String,
    },
    /// Signed by a key this server does not trust, and it requires
    /// trusted signatures.
    #[error(
        "signed by key {key_id}, which this server does not trust; it accepts only connectors signed by a trusted publisher ({trusted})"
    )]
    UnknownPublisher {
        /// The key id.
        key_id: String,
        /// The trusted publishers' names.
        trusted: String,
    },
    /// No signature, and this server requires one.
    #[error(
        "this server accepts only connectors signed by a trusted publisher ({trusted}): sign it with `wharf connector sign` and upload the signature with it"
    )]
    Unsigned {
        /// The trusted publishers' names.
        trusted: String,
    },
}

/// The publishers a server trusts, and whether it refuses everything else.
#[derive(Debug, Clone, Default)]
pub struct TrustPolicy {
    /// Publisher name by key id.
    publishers: BTreeMap<String, (String, PublicKey)>,
    /// Refuse unsigned connectors and unknown publishers.
    require_signed: bool,
}

impl TrustPolicy {
    /// A policy trusting `publishers` (`name=key`, as `--trusted-publisher`
    /// takes them).
    pub fn new(publishers: &[String], require_signed: bool) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for given in publishers {
            let (name, key) = given
                .split_once('=')
                .ok_or_else(|| format!("`{given}`: expected NAME=ed25519:<base64 public key>"))?;
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("`{given}`: the publisher needs a name"));
            }
            let key = PublicKey::parse(key).map_err(|e| format!("publisher `{name}`: {e}"))?;
            if let Some((other, _)) = map.insert(key.id(), (name.to_string(), key)) {
                return Err(format!(
                    "publishers `{other}` and `{name}` have the same key id; trust each key once"
                ));
            }
        }
        if require_signed && map.is_empty() {
            return Err(
                "requiring signed connectors needs at least one --trusted-publisher".to_string(),
            );
        }
        Ok(Self {
            publishers: map,
            require_signed,
        })
    }

    /// Whether unsigned connectors and unknown publishers are refused.
    pub fn requires_signed(&self) -> bool {
        self.require_signed
    }

    /// `name (key id), …`, or `none`, for the log.
    pub fn describe(&self) -> String {
        if self.publishers.is_empty() {
            return "none".to_string();
        }
        let names: Vec<String> = self
            .publishers
            .iter()
            .map(|(id, (name, _))| format!("{name} ({id})"))
            .collect();
        names.join(", ")
    }

    fn trusted_names(&self) -> String {
        let names: Vec<&str> = self.publishers.values().map(|(n, _)| n.as_str()).collect();
        names.join(", ")
    }

    /// The checks that need only the bytes' digest, made before a
    /// component is compiled or run: with `--require-signed` untrusted code
    /// never reaches the compiler. A signature that names a trusted key must
    /// verify over the name and version it claims (which [`Self::check`]
    /// then compares with the component's own).
    pub fn precheck(&self, signature: Option<&str>, digest: &str) -> Result<(), SignatureError> {
        let Some(text) = signature else {
            return if self.require_signed {
                Err(SignatureError::Unsigned {
                    trusted: self.trusted_names(),
                })
            } else {
                Ok(())
            };
        };
        let file = SignatureFile::parse(text)?;
        if file.digest != format!("sha256:{digest}") {
            return Err(SignatureError::OtherComponent {
                claimed: format!("{}@{} ({})", file.name, file.version, file.digest),
                actual: format!("sha256:{digest}"),
            });
        }
        self.verify(file, digest).map(|_| ())
    }

    /// What `signature` (a signature file's text, if any) says about the
    /// component with `digest` (hex SHA-256) that calls itself
    /// `name@version`, under this policy.
    pub fn check(
        &self,
        signature: Option<&str>,
        digest: &str,
        name: &str,
        version: &str,
    ) -> Result<Provenance, SignatureError> {
        let Some(text) = signature else {
            return if self.require_signed {
                Err(SignatureError::Unsigned {
                    trusted: self.trusted_names(),
                })
            } else {
                Ok(Provenance::Unsigned)
            };
        };
        let file = SignatureFile::parse(text)?;
        let claimed = format!("{}@{} ({})", file.name, file.version, file.digest);
        let actual = format!("{name}@{version} (sha256:{digest})");
        if claimed != actual {
            return Err(SignatureError::OtherComponent { claimed, actual });
        }
        self.verify(file, digest)
    }

    /// Verify `file` (whose claims match the component) under the key it
    /// names, if trusted.
    fn verify(&self, file: SignatureFile, digest: &str) -> Result<Provenance, SignatureError> {
        let Some((publisher, key)) = self.publishers.get(&file.key_id) else {
            return if self.require_signed {
                Err(SignatureError::UnknownPublisher {
                    key_id: file.key_id,
                    trusted: self.trusted_names(),
                })
            } else {
                Ok(Provenance::UnknownPublisher {
                    key_id: file.key_id,
                })
            };
        };
        let invalid = || SignatureError::Invalid {
            publisher: publisher.clone(),
            key_id: file.key_id.clone(),
        };
        let sig = STANDARD.decode(&file.signature).map_err(|_| invalid())?;
        UnparsedPublicKey::new(&ED25519, key.0)
            .verify(&statement(digest, &file.name, &file.version), &sig)
            .map_err(|_| invalid())?;
        Ok(Provenance::Verified {
            publisher: publisher.clone(),
            key_id: file.key_id,
        })
    }
}

#[cfg(test)]
mod tests;
