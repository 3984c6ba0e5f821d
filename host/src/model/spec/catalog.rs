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

/// Largest icon.
pub const MAX_ICON_BYTES: usize = 32 << 10;

/// Elements an icon may use: shapes, paint and text; nothing that runs,
/// embeds or loads.
const ICON_ELEMENTS: &[&str] = &[
    "svg",
    "g",
    "path",
    "circle",
    "ellipse",
    "rect",
    "line",
    "polyline",
    "polygon",
    "title",
    "desc",
    "defs",
    "lineargradient",
    "radialgradient",
    "stop",
    "clippath",
    "mask",
    "use",
    "symbol",
    "text",
    "tspan",
];

impl Catalog {
    /// Check the icon: at most [`MAX_ICON_BYTES`], only [`ICON_ELEMENTS`],
    /// no event handlers, no DOCTYPE or entities, no `javascript:` or
    /// `data:` values, and links only within the icon (`#id`). The console
    /// serves icons as images, never inline: this keeps an icon harmless
    /// wherever else it is shown.
    pub fn check_icon(&self) -> Result<(), String> {
        let Some(svg) = &self.icon_svg else {
            return Ok(());
        };
        if svg.len() > MAX_ICON_BYTES {
            return Err(format!(
                "the icon is {} bytes; at most {MAX_ICON_BYTES} are allowed",
                svg.len()
            ));
        }
        let lower = svg.to_ascii_lowercase();
        if !lower.trim_start().starts_with("<svg") && !lower.trim_start().starts_with("<?xml") {
            return Err("the icon must be an SVG document (`<svg …>`)".into());
        }
        for bad in ["<!", "javascript:", "data:", "<?xml-stylesheet"] {
            if lower.contains(bad) {
                return Err(format!("the icon may not contain `{bad}`"));
            }
        }
        let mut rest = lower.as_str();
        while let Some(open) = rest.find('<') {
            let tag = &rest[open + 1..];
            let end = tag.find('>').ok_or("the icon has an unclosed tag")?;
            let inner = &tag[..end];
            rest = &tag[end..];
            if inner.starts_with('?') || inner.starts_with('/') {
                continue;
            }
            let name: String = inner
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '/')
                .collect();
            if !ICON_ELEMENTS.contains(&name.as_str()) {
                return Err(format!("the icon may not use the element `<{name}>`"));
            }
            for word in inner.split(|c: char| c.is_whitespace()) {
                let attr = word.split('=').next().unwrap_or_default();
                if attr.starts_with("on") {
                    return Err(format!("the icon may not have the attribute `{attr}`"));
                }
                if attr.ends_with("href") {
                    let value = word[attr.len()..].trim_start_matches('=');
                    let value = value.trim_matches(|c| c == '"' || c == '\'');
                    if !value.starts_with('#') {
                        return Err("links in the icon may only point inside it (`#id`)".into());
                    }
                }
            }
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn icon(svg: &str) -> Result<(), String> {
        Catalog {
            icon_svg: Some(svg.into()),
            ..Catalog::default()
        }
        .check_icon()
    }

    #[test]
    fn icons_are_shapes_only() {
        assert!(icon(r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><defs><linearGradient id="g"><stop offset="0"/></linearGradient></defs><path d="M0 0h24v24H0z" fill="url(#g)"/><use href="#g"/></svg>"##).is_ok());
        for bad in [
            r#"<svg><script>alert(1)</script></svg>"#,
            r#"<svg onload="alert(1)"><path d=""/></svg>"#,
            r#"<svg><foreignObject><div/></foreignObject></svg>"#,
            r#"<svg><use href="https://evil.example/x.svg#a"/></svg>"#,
            r#"<svg><a href="javascript:alert(1)"><path/></a></svg>"#,
            r#"<!DOCTYPE svg [<!ENTITY x "y">]><svg/>"#,
            r#"<svg><image href="data:image/png;base64,AAAA"/></svg>"#,
            "<html/>",
        ] {
            assert!(icon(bad).is_err(), "{bad}");
        }
        let big = format!("<svg>{}</svg>", "<g/>".repeat(MAX_ICON_BYTES / 4));
        assert!(icon(&big).unwrap_err().contains("at most"));
    }
}
