//! `google-drive`: files in a Google Drive folder as a source (their
//! content as blobs, Google Docs exported to the format you choose,
//! incremental by the changes feed), and a destination that uploads files.
//!
//! - OAuth2 authorization code with `access_type=offline` and
//!   `prompt=consent` (so Google issues a refresh token every time) and
//!   PKCE; the host refreshes the hour-long access tokens.
//! - Source: [`source`]; destination: [`upload`]; API errors: [`api`].
//!
//! Built from the Drive API v3 documentation and its discovery document
//! (the fake in the tests checks every request against it); see
//! `docs/vendors/google-drive.md`.

mod api;
mod source;
mod upload;

use std::collections::BTreeMap;

use serde::Deserialize;
use wharf_sdk::OAuth2;
use wharf_sdk::catalog::{Catalog, Category};
use wharf_sdk::prelude::*;

const API: &str = "https://www.googleapis.com";

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The folder a source reads (`root`: My Drive).
    #[serde(default = "root")]
    folder_id: String,
    #[serde(default = "yes")]
    recursive: bool,
    #[serde(default = "yes")]
    download: bool,
    /// Export format per Google type (`document`, `spreadsheet`, …).
    #[serde(default)]
    export: BTreeMap<String, String>,
    /// The folder a destination writes into.
    #[serde(default = "root")]
    target_folder_id: String,
    /// API root (default Google's).
    #[serde(default)]
    base_url: Option<String>,
    /// OAuth2 endpoints (defaults Google's); read by the host.
    #[serde(default)]
    #[allow(dead_code)]
    auth_url: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    token_url: Option<String>,
}

impl Config {
    pub fn base(&self) -> &str {
        self.base_url
            .as_deref()
            .filter(|b| !b.is_empty())
            .unwrap_or(API)
            .trim_end_matches('/')
    }

    /// The format a Google type is exported to; `None`: it has no content.
    pub fn export_format(&self, kind: &str) -> Option<&str> {
        if let Some(f) = self.export.get(kind) {
            return Some(f);
        }
        Some(match kind {
            "document" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "spreadsheet" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "presentation" => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
            "drawing" => "application/pdf",
            "script" => "application/vnd.google-apps.script+json",
            _ => return None,
        })
    }
}

fn root() -> String {
    "root".into()
}

fn yes() -> bool {
    true
}

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#fff"/><path d="M24 10h16l16 28H40z" fill="#ffc107"/><path d="M24 10L8 38l8 14 16-28z" fill="#1e88e5"/><path d="M16 52h32l8-14H24z" fill="#4caf50"/></svg>"##;

pub struct GoogleDrive;

impl Connector for GoogleDrive {
    type Config = Config;

    fn spec() -> Spec {
        let api = format!("{{config.base_url|{API}}}");
        Spec::new("google-drive", env!("CARGO_PKG_VERSION"))
            .description("Google Drive: a folder's files with their content (Docs exported), incremental by the changes feed; uploads.")
            .role(Role::Source)
            .role(Role::Destination)
            .stream(
                StreamSpec::new("files")
                    .description("Files of the folder and its subfolders: Drive metadata (id, name, mimeType, size, md5Checksum, modifiedTime, parents); the content as a blob; deletes for trashed or removed files")
                    .key_field("id")
                    .cursor_field("modifiedTime"),
            )
            .config_schema(config_schema())
            .host(api)
            .oauth2(
                OAuth2::authorization_code(
                    "{config.auth_url|https://accounts.google.com/o/oauth2/v2/auth}",
                    "{config.token_url|https://oauth2.googleapis.com/token}",
                )
                .scope("https://www.googleapis.com/auth/drive")
                .authorize_param("access_type", "offline")
                .authorize_param("prompt", "consent")
                .token_lifetime_secs(3600),
            )
            .catalog(
                Catalog::new("Google Drive")
                    .category(Category::Files)
                    .icon_svg(ICON)
                    .documentation_url("https://developers.google.com/workspace/drive/api/guides/about-sdk")
                    .publisher("Wharf"),
            )
    }

    fn check(config: &Config) -> Result<()> {
        let about: Value =
            api::send(api::get(config, "about").query("fields", "user(emailAddress)"))?.json()?;
        wharf_sdk::log::info(format!(
            "signed in as {}",
            about["user"]["emailAddress"].as_str().unwrap_or("?")
        ));
        Ok(())
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        if stream != "files" {
            return Err(Error::Config(format!("unknown stream `{stream}` (files)")));
        }
        source::fetch(config, cursor)
    }

    fn push(config: &Config, records: Vec<Record>) -> Result<PushResult> {
        upload::push(config, records)
    }
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "folder_id": {"type": "string", "default": "root", "title": "Folder to read", "description": "The folder's id (from its URL, drive.google.com/drive/folders/<id>); root is My Drive"},
            "recursive": {"type": "boolean", "default": true, "title": "Include subfolders", "description": "Also read the folders inside the folder (new subfolders join as they appear)"},
            "download": {"type": "boolean", "default": true, "title": "Download contents", "description": "Read each file's content (Google Docs exported); off lists metadata only"},
            "export": {"type": "object", "title": "Export formats", "additionalProperties": {"type": "string"},
                "description": "MIME type per Google type, e.g. {\"document\": \"application/pdf\", \"spreadsheet\": \"text/csv\"}; defaults: Word, Excel, PowerPoint, PDF for drawings"},
            "target_folder_id": {"type": "string", "default": "root", "title": "Folder to write into", "description": "As a destination: the folder files are uploaded to (a file of the same name is replaced)"},
            "base_url": {"type": "string", "format": "uri", "title": "API URL", "description": "Leave empty for https://www.googleapis.com"},
            "auth_url": {"type": "string", "format": "uri", "title": "Authorization URL", "description": "Leave empty for Google's"},
            "token_url": {"type": "string", "format": "uri", "title": "Token URL", "description": "Leave empty for Google's"}
        }
    })
}

export_connector!(GoogleDrive);
