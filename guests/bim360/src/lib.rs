//! `bim360`: Autodesk Construction Cloud and BIM 360 (Autodesk Platform
//! Services) as a source: hubs, projects, folders, items (each with its
//! tip version), versions (model files such as IFC, RVT, NWD and DWG as
//! blobs) and ACC issues.
//!
//! - Three-legged OAuth2 (authorization code with PKCE, the client by HTTP
//!   Basic at `authentication/v2/token`), scope `data:read` only: APS issues
//!   a refresh token with every code exchange (there is no
//!   `offline_access` scope) and rotates it on every refresh (single use,
//!   15 days); access tokens live an hour. The host keeps the newest.
//! - The Data Management tree walked depth first with JSON:API paging
//!   (`page[limit]`, `links.next.href`), incremental by `lastModifiedTime`
//!   with unchanged subtrees pruned by `lastModifiedTimeRollup`; BIM 360's
//!   hidden (deleted) folders and items become deletes. [`walk`], [`tree`]
//! - Model files through OSS's signed download: the file lands in a blob
//!   of the run on the version's record, for a file destination (or a
//!   mapper) to take on. [`download`]
//! - ACC issues by `offset`/`limit`, incremental by `filter[updatedAt]`,
//!   deleted issues as deletes. [`issues`]
//! - APS's limits as the connection's rate budget (300 requests a minute:
//!   the Data Management endpoints a walk uses most allow 300 each), 429s
//!   waited out by `Retry-After`, APS's error bodies in its words. [`api`]
//!
//! Built from APS's documentation; see `docs/vendors/bim360.md`.

mod api;
mod download;
mod issues;
mod records;
mod tree;
mod walk;

use serde::Deserialize;
use wharf_sdk::OAuth2;
use wharf_sdk::auth::ClientAuth;
use wharf_sdk::catalog::{Catalog, Category, RateBudget};
use wharf_sdk::prelude::*;

use walk::Kind;

const API: &str = "https://developer.api.autodesk.com";

/// The connection config.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Hubs to read (`b.<account id>`, or the account id); empty: all.
    #[serde(default)]
    hub_ids: Vec<String>,
    /// Projects to read (`b.<project id>` or the ACC project id); empty: all.
    #[serde(default)]
    project_ids: Vec<String>,
    /// File types (extensions) whose content is downloaded.
    #[serde(default = "default_file_types")]
    file_types: Vec<String>,
    /// Largest file downloaded, in MB; 0 downloads nothing.
    #[serde(default = "default_max_file_mb")]
    max_file_mb: u32,
    /// Skip folders in which nothing changed since the last pass.
    #[serde(default = "yes")]
    prune_unchanged_folders: bool,
    /// `page[limit]` of Data Management listings (at most 200).
    #[serde(default = "default_page_limit")]
    page_limit: u32,
    /// How far before a pass began the next one looks again, in seconds.
    #[serde(default = "default_lookback")]
    lookback_secs: u32,
    /// API origin (default APS's).
    #[serde(default)]
    base_url: Option<String>,
    /// OAuth2 endpoints (default APS's); read by the host.
    #[serde(default)]
    #[allow(dead_code)]
    auth_url: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    token_url: Option<String>,
}

fn default_file_types() -> Vec<String> {
    ["ifc", "rvt", "nwd", "dwg"].map(String::from).to_vec()
}
fn default_max_file_mb() -> u32 {
    100
}
fn yes() -> bool {
    true
}
fn default_page_limit() -> u32 {
    200
}
fn default_lookback() -> u32 {
    300
}

impl Config {
    /// The API origin, without a trailing slash.
    pub fn base(&self) -> &str {
        self.base_url
            .as_deref()
            .filter(|b| !b.trim().is_empty())
            .unwrap_or(API)
            .trim_end_matches('/')
    }

    pub fn page_limit(&self) -> u32 {
        self.page_limit.clamp(1, 200)
    }

    /// Whether hub `id` is read; ids compare with or without `b.`.
    pub fn wants_hub(&self, id: &str) -> bool {
        named(&self.hub_ids, id)
    }

    /// Whether project `id` is read; ids compare with or without `b.`.
    pub fn wants_project(&self, id: &str) -> bool {
        named(&self.project_ids, id)
    }

    pub fn max_file_bytes(&self) -> u64 {
        u64::from(self.max_file_mb) << 20
    }

    /// Whether files of `file_type` are downloaded.
    pub fn downloads(&self, file_type: &str) -> bool {
        self.max_file_mb > 0
            && !file_type.is_empty()
            && self.file_types.iter().any(|t| {
                t.trim()
                    .trim_start_matches('.')
                    .eq_ignore_ascii_case(file_type)
            })
    }
}

fn named(list: &[String], id: &str) -> bool {
    list.is_empty()
        || list
            .iter()
            .any(|l| api::acc_id(l.trim()).eq_ignore_ascii_case(api::acc_id(id)))
}

const STREAMS: [(&str, &str, Option<&str>); 6] = [
    (
        "hubs",
        "Hubs the user reaches: BIM 360 / ACC accounts (b.<account id>), Fusion team and personal hubs, with their region",
        None,
    ),
    (
        "projects",
        "Active projects of each hub, with the id the Construction APIs use (acc_project_id, without b.) and the project type (ACC, BIM360)",
        None,
    ),
    (
        "folders",
        "Folders of each project (top folders and below), with their path; folders deleted in BIM 360 Docs as deletes",
        Some("lastModifiedTime"),
    ),
    (
        "items",
        "Documents (items) with their tip version (tip: name, versionNumber, fileType, storageSize) and path; deleted ones as deletes",
        Some("lastModifiedTime"),
    ),
    (
        "versions",
        "File versions with their path, file type and storage; files of the configured types (IFC, RVT, NWD, DWG) under max_file_mb with their content as a blob",
        Some("lastModifiedTime"),
    ),
    (
        "issues",
        "ACC issues of each project (status, type, assignee, dates, linked documents, custom attributes); deleted issues as deletes",
        Some("updatedAt"),
    ),
];

const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="12" fill="#0696d7"/><path d="M14 48L32 14l18 34H40L32 32l-8 16z" fill="#fff"/></svg>"##;

pub struct Bim360;

impl Connector for Bim360 {
    type Config = Config;

    fn spec() -> Spec {
        let api = format!("{{config.base_url|{API}}}");
        let mut spec = Spec::new("bim360", env!("CARGO_PKG_VERSION"))
            .description(
                "Autodesk Construction Cloud / BIM 360 (APS): hubs, projects, folders, items, \
                 versions with model files (IFC, RVT, NWD, DWG) as blobs, and ACC issues; \
                 incremental by modification time.",
            )
            .role(Role::Source)
            .config_schema(config_schema())
            .host(api.clone())
            // Signed download URLs (OSS `signeds3download` with `useCdn=true`)
            // point at Autodesk's CDN, `cdn.<region>.oss.api.autodesk.com`.
            .host("https://*.oss.api.autodesk.com")
            .oauth2(
                OAuth2::authorization_code(
                    format!("{{config.auth_url|{API}/authentication/v2/authorize}}"),
                    format!("{{config.token_url|{API}/authentication/v2/token}}"),
                )
                .scope("data:read")
                .client_auth(ClientAuth::Basic)
                .token_lifetime_secs(3600),
            )
            // Per application and endpoint: 300 a minute for the listings a
            // walk makes most (folder contents, top folders; versions allow
            // 800), 50 for hubs and projects, 1,000 for all of OSS
            // (https://aps.autodesk.com/en/docs/data/v2/developers_guide/rate-limiting/dm-rate-limits/).
            .rate_budget(RateBudget::new(api).per(300, 60))
            .catalog(
                Catalog::new("Autodesk Construction Cloud / BIM 360")
                    .category(Category::Files)
                    .category(Category::Other)
                    .icon_svg(ICON)
                    .documentation_url(
                        "https://aps.autodesk.com/en/docs/data/v2/developers_guide/overview/",
                    )
                    .publisher("Wharf"),
            );
        for (name, description, cursor) in STREAMS {
            let mut s = StreamSpec::new(name)
                .description(description)
                .key_field("id");
            if let Some(cursor) = cursor {
                s = s.cursor_field(cursor);
            }
            spec = spec.stream(s);
        }
        spec
    }

    fn check(config: &Config) -> Result<()> {
        let mut hubs = Vec::new();
        let mut warnings = Vec::new();
        let mut next = Some("/project/v1/hubs".to_string());
        while let Some(path) = next.take() {
            let body: Value = api::send(api::dm(config, &path))?.json()?;
            warnings.extend(api::warnings(&body));
            for hub in body["data"].as_array().into_iter().flatten() {
                let id = hub["id"].as_str().unwrap_or_default().to_string();
                let name = records::name_of(hub);
                hubs.push((id, name));
            }
            next = api::next_page(&body);
        }
        let list = || {
            hubs.iter()
                .map(|(id, name)| format!("{name} ({id})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let warned = warnings.join("; ");
        if hubs.is_empty() {
            return Err(Error::Config(format!(
                "the Autodesk user who connected reaches no hub; for BIM 360 / ACC, an account \
                 administrator must add this app's client id under Account Admin > Custom \
                 Integrations{}",
                if warned.is_empty() {
                    String::new()
                } else {
                    format!(" (APS: {warned})")
                }
            )));
        }
        if !warned.is_empty() {
            wharf_sdk::log::warn(format!(
                "APS could not list every hub: {warned}; an account that does not show needs this \
                 app's client id under Account Admin > Custom Integrations"
            ));
        }
        for wanted in &config.hub_ids {
            if !hubs
                .iter()
                .any(|(id, _)| named(std::slice::from_ref(wanted), id))
            {
                return Err(Error::Config(format!(
                    "hub {wanted} is not one this user reaches; they reach: {}",
                    list()
                )));
            }
        }
        wharf_sdk::log::info(format!("connected; hubs: {}", list()));
        Ok(())
    }

    fn fetch(config: &Config, stream: &str, cursor: Option<&str>) -> Result<Page> {
        let kind = Kind::of(stream).ok_or_else(|| {
            let names: Vec<&str> = STREAMS.iter().map(|s| s.0).collect();
            Error::Config(format!("unknown stream `{stream}` ({})", names.join(", ")))
        })?;
        walk::fetch(config, kind, cursor)
    }
}

fn config_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "hub_ids": {"type": "array", "items": {"type": "string"}, "title": "Hubs", "description": "Hub ids to read (b.<account id> for BIM 360 / ACC); empty reads every hub the user reaches (check lists them)"},
            "project_ids": {"type": "array", "items": {"type": "string"}, "title": "Projects", "description": "Project ids to read, with or without the b. prefix; empty reads every active project"},
            "file_types": {"type": "array", "items": {"type": "string"}, "default": ["ifc", "rvt", "nwd", "dwg"], "title": "Files to download", "description": "File types (extensions) whose content comes with the version as a file"},
            "max_file_mb": {"type": "integer", "minimum": 0, "maximum": 2048, "default": 100, "title": "Largest file (MB)", "description": "Larger files are listed without their content; 0 downloads nothing"},
            "prune_unchanged_folders": {"type": "boolean", "default": true, "title": "Skip unchanged folders", "description": "Incremental runs do not open folders in which nothing changed (lastModifiedTimeRollup)"},
            "page_limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 200, "title": "Page size", "description": "Entries per Data Management listing (APS: at most 200)"},
            "lookback_secs": {"type": "integer", "minimum": 0, "maximum": 86400, "default": 300, "title": "Lookback (s)", "description": "How far before the last run began the next one looks again for changes"},
            "base_url": {"type": "string", "format": "uri", "title": "API URL", "description": "Leave empty for https://developer.api.autodesk.com"},
            "auth_url": {"type": "string", "format": "uri", "title": "Authorization URL", "description": "Leave empty for APS's (authentication/v2/authorize)"},
            "token_url": {"type": "string", "format": "uri", "title": "Token URL", "description": "Leave empty for APS's (authentication/v2/token)"}
        }
    })
}

export_connector!(Bim360);
