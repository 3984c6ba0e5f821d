//! `wharf connector`: upload, list, show and delete connector components
//! on a server; `keygen` and `sign` run locally (in [`crate::cli::sign`]).
//! A connector is named `name@version`, or just `name` when the server has
//! one version of it.

use std::path::PathBuf;

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::{Client, enc};
use crate::cli::failure::Failure;
use crate::cli::output::{self, cut, list, text, when};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Upload a component (.wasm), with its signature if it has one.
    Upload {
        /// The component.
        file: PathBuf,
        /// Its publisher's signature file [default: FILE.sig, if present].
        #[arg(long, conflicts_with = "no_signature")]
        signature: Option<PathBuf>,
        /// Send no signature, even if FILE.sig is there.
        #[arg(long)]
        no_signature: bool,
    },
    /// Create a publisher key pair: NAME.key (private; keep it secret) and
    /// NAME.pub (what servers trust with --trusted-publisher). Local.
    Keygen {
        /// Path and name of the two files, without extension.
        name: PathBuf,
    },
    /// Sign a component with a publisher key, writing FILE.sig beside it.
    /// Local: no server is needed.
    Sign {
        /// The component.
        file: PathBuf,
        /// The private key (PEM PKCS#8 Ed25519: from `wharf connector
        /// keygen`, or `openssl genpkey -algorithm ed25519`).
        #[arg(long)]
        key: PathBuf,
        /// Where to write the signature [default: FILE.sig].
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// List connectors.
    List,
    /// Show a connector: spec, secrets, streams, hosts.
    Show {
        /// `name@version`, or `name` if there is one version.
        connector: String,
    },
    /// Delete a connector no connection uses.
    Delete {
        /// `name@version`, or `name` if there is one version.
        connector: String,
    },
}

pub async fn run(c: &Client, cmd: Command) -> Result<(), Failure> {
    match cmd {
        Command::Upload {
            file,
            signature,
            no_signature,
        } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?;
            let mut headers = Vec::new();
            let found = if no_signature {
                None
            } else {
                signature_for(&file, signature)?
            };
            if let Some((path, sig)) = found {
                eprintln!("with the signature {}", path.display());
                use base64::Engine;
                headers.push((
                    crate::api::SIGNATURE_HEADER,
                    base64::engine::general_purpose::STANDARD.encode(sig),
                ));
            }
            let a = c
                .call_with(
                    Method::POST,
                    "/api/v1/connectors",
                    Some(("application/wasm", bytes)),
                    &headers,
                )
                .await?;
            c.print(&a.body, |v| {
                let what = if a.status == 201 {
                    "uploaded"
                } else {
                    "already registered"
                };
                println!(
                    "{what} {}@{} (digest {}; {})",
                    text(&v["name"]),
                    text(&v["version"]),
                    text(&v["digest"]),
                    signature_status(&v["signature"])
                );
            });
        }
        Command::Keygen { .. } | Command::Sign { .. } => {
            unreachable!("local commands are dispatched before a client exists")
        }
        Command::List => {
            let items = c.list_all("/api/v1/connectors").await?;
            c.print_list(&items, |items| {
                let rows = items.iter().map(|i| {
                    vec![
                        format!("{}@{}", text(&i["name"]), text(&i["version"])),
                        list(&i["spec"]["roles"]),
                        text(&i["digest"]).chars().take(12).collect(),
                        signature_status(&i["signature"]),
                        when(&i["created_at"]),
                    ]
                });
                output::table(
                    &["connector", "roles", "digest", "signature", "uploaded"],
                    rows.collect(),
                );
            });
        }
        Command::Show { connector } => {
            let (name, version) = resolve(c, &connector).await?;
            let v = c
                .get(&format!(
                    "/api/v1/connectors/{}/{}",
                    enc(&name),
                    enc(&version)
                ))
                .await?;
            c.print(&v, show);
        }
        Command::Delete { connector } => {
            let (name, version) = resolve(c, &connector).await?;
            c.call(
                Method::DELETE,
                &format!("/api/v1/connectors/{}/{}", enc(&name), enc(&version)),
                None,
            )
            .await?;
            println!("deleted {name}@{version}");
        }
    }
    Ok(())
}

impl Command {
    /// Whether the command works without a server.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Keygen { .. } | Self::Sign { .. })
    }
}

/// The signature to send with `file` (its path and text): the one given,
/// or `FILE.sig` beside it if there is one.
fn signature_for(
    file: &std::path::Path,
    given: Option<PathBuf>,
) -> Result<Option<(PathBuf, String)>, Failure> {
    let (path, required) = match given {
        Some(p) => (p, true),
        None => (crate::cli::sign::default_signature_path(file), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some((path, text))),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::usage(format!(
            "cannot read the signature {}: {e}",
            path.display()
        ))),
    }
}

/// `verified: acme`, `unsigned`, …
fn signature_status(v: &Value) -> String {
    match (v["status"].as_str(), v["publisher"].as_str()) {
        (Some("verified"), Some(p)) => format!("verified: {p}"),
        (Some(status), _) => status.to_string(),
        (None, _) => "-".to_string(),
    }
}

/// `name@version` as given, or the one version of `name` on the server.
async fn resolve(c: &Client, wanted: &str) -> Result<(String, String), Failure> {
    if let Some((name, version)) = wanted.split_once('@') {
        return Ok((name.to_string(), version.to_string()));
    }
    let versions: Vec<String> = c
        .list_all("/api/v1/connectors")
        .await?
        .iter()
        .filter(|i| i["name"].as_str() == Some(wanted))
        .map(|i| text(&i["version"]))
        .collect();
    match versions.as_slice() {
        [] => Err(Failure::failed(format!("no connector named `{wanted}`"))),
        [one] => Ok((wanted.to_string(), one.clone())),
        many => Err(Failure::usage(format!(
            "connector `{wanted}` has {} versions ({}): name one as `{wanted}@VERSION`",
            many.len(),
            many.join(", ")
        ))),
    }
}

/// A connector as key-value rows, then its secrets and streams as tables.
fn show(v: &Value) {
    let spec = &v["spec"];
    let mut rows = vec![
        (
            "connector",
            format!("{}@{}", text(&v["name"]), text(&v["version"])),
        ),
        ("description", text(&spec["description"])),
        ("roles", list(&spec["roles"])),
        ("hosts", list(&spec["hosts"])),
        ("digest", text(&v["digest"])),
        ("signature", signature_status(&v["signature"])),
        ("size", format!("{} bytes", text(&v["size"]))),
        ("uploaded", when(&v["created_at"])),
        // One a line: there are a dozen or more.
        ("wasi imports", lines(&v["wasi_imports"])),
    ];
    if !spec["webhook"].is_null() {
        rows.push(("webhook", scheme(&spec["webhook"])));
    }
    if !spec["oauth2"].is_null() {
        rows.push(("oauth2", scheme(&spec["oauth2"])));
    }
    output::fields(&rows);
    let secrets = spec["secrets"].as_array().into_iter().flatten().map(|s| {
        vec![
            text(&s["name"]),
            if s["required"] == true { "yes" } else { "no" }.into(),
            list(&s["hosts"]),
            cut(&text(&s["description"]), 60),
        ]
    });
    output::section(
        "secrets",
        &["name", "required", "hosts", "description"],
        secrets.collect(),
    );
    let streams = spec["streams"].as_array().into_iter().flatten().map(|s| {
        vec![
            text(&s["name"]),
            text(&s["key_field"]),
            text(&s["cursor_field"]),
            cut(&text(&s["description"]), 60),
        ]
    });
    output::section(
        "streams",
        &["name", "key", "cursor", "description"],
        streams.collect(),
    );
}

fn lines(v: &Value) -> String {
    let items: Vec<String> = v.as_array().into_iter().flatten().map(text).collect();
    if items.is_empty() {
        "-".into()
    } else {
        items.join("\n")
    }
}

/// A small object (a webhook scheme, OAuth2 endpoints) on one line.
fn scheme(v: &Value) -> String {
    match v {
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| format!("{k}={}", text(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => text(other),
    }
}
