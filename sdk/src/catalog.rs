//! How a connector presents itself in a catalog, and the rate budgets it
//! declares for the hosts it talks to.

use crate::bindings::wharf::connector::types as wit;

/// Catalog categories.
pub use wit::Category;

/// Catalog metadata.
///
/// ```
/// use wharf_sdk::catalog::{Catalog, Category};
/// let c = Catalog::new("Xero").category(Category::Accounting).publisher("Wharf");
/// # let _ = c;
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    display_name: String,
    categories: Vec<Category>,
    icon_svg: Option<String>,
    documentation_url: Option<String>,
    publisher: Option<String>,
}

impl Catalog {
    /// A catalog entry named `display_name`.
    pub fn new(display_name: impl Into<String>) -> Self {
        Self {
            display_name: display_name.into(),
            ..Self::default()
        }
    }
    /// Add a category.
    pub fn category(mut self, c: Category) -> Self {
        self.categories.push(c);
        self
    }
    /// An SVG icon (at most 32 KiB; the host sanitises it).
    pub fn icon_svg(mut self, svg: impl Into<String>) -> Self {
        self.icon_svg = Some(svg.into());
        self
    }
    /// Documentation for administrators.
    pub fn documentation_url(mut self, url: impl Into<String>) -> Self {
        self.documentation_url = Some(url.into());
        self
    }
    /// Who publishes it.
    pub fn publisher(mut self, p: impl Into<String>) -> Self {
        self.publisher = Some(p.into());
        self
    }

    pub(crate) fn into_wit(self) -> wit::Catalog {
        wit::Catalog {
            display_name: self.display_name,
            categories: self.categories,
            icon_svg: self.icon_svg,
            documentation_url: self.documentation_url,
            publisher: self.publisher,
        }
    }
}

/// A rate budget for a host, kept by the host per connection across runs,
/// syncs and nodes.
///
/// ```
/// use wharf_sdk::catalog::RateBudget;
/// // Xero: 60 calls a minute, 5 at once, 5,000 a day.
/// let xero = RateBudget::new("https://api.xero.com").per(60, 60).concurrency(5).daily(5_000);
/// # let _ = xero;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RateBudget {
    host: String,
    requests: Option<u32>,
    window_secs: u32,
    concurrency: Option<u32>,
    daily: Option<u32>,
}

impl RateBudget {
    /// A budget for requests to `host` (a host pattern or `{config.x}`).
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            requests: None,
            window_secs: 1,
            concurrency: None,
            daily: None,
        }
    }
    /// At most `requests` per `window_secs`.
    pub fn per(mut self, requests: u32, window_secs: u32) -> Self {
        self.requests = Some(requests);
        self.window_secs = window_secs.max(1);
        self
    }
    /// At most `n` requests at once.
    pub fn concurrency(mut self, n: u32) -> Self {
        self.concurrency = Some(n);
        self
    }
    /// At most `n` requests per UTC day.
    pub fn daily(mut self, n: u32) -> Self {
        self.daily = Some(n);
        self
    }

    pub(crate) fn into_wit(self) -> wit::RateBudget {
        wit::RateBudget {
            host: self.host,
            requests: self.requests,
            window_secs: self.window_secs,
            concurrency: self.concurrency,
            daily: self.daily,
        }
    }
}
