//! How a connector presents itself in a catalog, and the rate budgets it
//! declares for the hosts it talks to.

use serde::{Deserialize, Serialize};

/// Catalog metadata.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Catalog {
    /// Name for people.
    #[serde(default)]
    pub display_name: String,
    /// Categories.
    #[serde(default)]
    pub categories: Vec<Category>,
    /// A sanitised SVG icon.
    #[serde(default)]
    pub icon_svg: Option<String>,
    /// Documentation for administrators.
    #[serde(default)]
    pub documentation_url: Option<String>,
    /// Who publishes it.
    #[serde(default)]
    pub publisher: Option<String>,
}

/// Catalog categories, from a fixed list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)]
pub enum Category {
    Accounting,
    Commerce,
    Crm,
    Erp,
    Files,
    Messaging,
    Marketing,
    CloudCost,
    Logistics,
    Government,
    Database,
    Developer,
    Other,
}

/// A rate budget for a host, kept per connection across runs, syncs and
/// nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RateBudget {
    /// Host template it applies to.
    pub host: String,
    /// Requests per window.
    pub requests: Option<u32>,
    /// The window, in seconds.
    pub window_secs: u32,
    /// Requests at once.
    pub concurrency: Option<u32>,
    /// Requests per UTC day.
    pub daily: Option<u32>,
}
