//! `wharf connector keygen` and `wharf connector sign`: a publisher's key
//! pair, and detached signatures over components (the format and the rule
//! are [`crate::model::signature`]'s). Both are local: the private key
//! never goes near a server. Also reads `--trusted-publisher NAME=@FILE`.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::client::connectors::Command;
use super::failure::Failure;
use crate::model::signature::{PublicKey, SigningKey};

/// `FILE.sig`: where `sign` writes, and `upload` looks, by default.
pub fn default_signature_path(component: &Path) -> PathBuf {
    let mut name = component.as_os_str().to_owned();
    name.push(".sig");
    PathBuf::from(name)
}

pub async fn run(cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Keygen { name } => keygen(&name),
        Command::Sign { file, key, output } => sign(&file, &key, output).await,
        _ => unreachable!("only local commands are dispatched here"),
    }
}

fn keygen(name: &Path) -> Result<(), Failure> {
    let with = |ext: &str| {
        let mut p = name.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    let (private, public) = (with(".key"), with(".pub"));
    let (key, pem) = SigningKey::generate().map_err(Failure::failed)?;
    // create_new: an existing key is somebody's identity; never overwrite it.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&private)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", private.display())))?;
    file.write_all(pem.as_bytes())
        .map_err(|e| Failure::failed(format!("cannot write {}: {e}", private.display())))?;
    let public_key = key.public();
    std::fs::write(&public, format!("{public_key}\n"))
        .map_err(|e| Failure::failed(format!("cannot write {}: {e}", public.display())))?;
    let publisher = name
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "publisher".into());
    println!(
        "wrote {} (private: keep it secret) and {} (key id {})\n\nservers trust it with:\n\n    wharf serve --trusted-publisher {publisher}={public_key}\n",
        private.display(),
        public.display(),
        public_key.id()
    );
    Ok(())
}

async fn sign(file: &Path, key: &Path, output: Option<PathBuf>) -> Result<(), Failure> {
    let key_text = std::fs::read_to_string(key)
        .map_err(|e| Failure::usage(format!("cannot read the key {}: {e}", key.display())))?;
    let key = SigningKey::parse(&key_text)
        .map_err(|e| Failure::usage(format!("{}: {e}", key.display())))?;
    // The name and version signed are the ones the component declares, so
    // the component is loaded (checked and compiled) as the server will.
    let (_runtime, connector) = super::dev::load(&file.to_path_buf(), false).await?;
    let spec = connector.spec();
    let signature = key.sign(connector.digest(), &spec.name, &spec.version);
    let output = output.unwrap_or_else(|| default_signature_path(file));
    std::fs::write(&output, signature.to_text())
        .map_err(|e| Failure::failed(format!("cannot write {}: {e}", output.display())))?;
    println!(
        "signed {}@{} (sha256 {}) with key {}: {}",
        spec.name,
        spec.version,
        connector.digest(),
        signature.key_id,
        output.display()
    );
    Ok(())
}

/// `NAME=KEY` as given, with `NAME=@FILE` replaced by the key in FILE.
pub fn read_publisher_keys(given: &[String]) -> Result<Vec<String>, Failure> {
    given
        .iter()
        .map(|entry| match entry.split_once("=@") {
            Some((name, path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Failure::usage(format!(
                        "--trusted-publisher {name}: cannot read {path}: {e}"
                    ))
                })?;
                // Checked here too, so the error names the file.
                PublicKey::parse(&text).map_err(|e| {
                    Failure::usage(format!("--trusted-publisher {name}: {path}: {e}"))
                })?;
                Ok(format!("{name}={}", text.trim()))
            }
            None => Ok(entry.clone()),
        })
        .collect()
}
