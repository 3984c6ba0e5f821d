//! A small toolkit for REST sources, composed in code: how a request is
//! authenticated ([`Auth`]), how pages follow one another ([`Paginator`]),
//! where the records are in a body ([`records_at`]), how an incremental
//! stream remembers where it stopped ([`Incremental`], with a lookback
//! window), how long a server asks to wait ([`wait_from_headers`]), and which
//! error an answer means ([`ErrorMap`]). [`RestStream`] puts them together
//! into a `fetch`, so a connector is mostly its streams and its quirks:
//!
//! ```no_run
//! use wharf_sdk::prelude::*;
//! use wharf_sdk::rest::{Auth, ErrorMap, Incremental, Paginator, RestStream};
//!
//! const TOKEN: Secret = Secret::new("api_token");
//!
//! fn fetch_orders(base: &str, cursor: Option<&str>) -> Result<Page> {
//!     RestStream::new("orders", Request::get(format!("{base}/orders.json")))
//!         .auth(Auth::Header { name: "X-Shopify-Access-Token".into(), value: TOKEN.placeholder() })
//!         .paginator(Paginator::LinkHeader)
//!         .records("/orders")
//!         .key("id")
//!         .incremental(Incremental::new("updated_at", "updated_at_min").lookback_secs(300))
//!         .errors(ErrorMap::new().message_at("/errors"))
//!         .fetch(cursor)
//! }
//! ```

mod auth;
mod errors;
mod incremental;
mod paginate;
mod rate;
mod select;
mod stream;

pub use auth::Auth;
pub use errors::{Decoder, ErrorMap};
pub use incremental::{Incremental, Window};
pub use paginate::{Paginator, Position, resolve};
pub use rate::wait_from_headers;
pub use select::records_at;
pub use stream::{RestStream, StreamState};
