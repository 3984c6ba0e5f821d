//! Everything that leaves the host: the one set of outbound rules and the
//! one guarded client, used by the connectors' `http.send` (in `runtime`),
//! outgoing webhooks and the OAuth2 token requests alike.
//!
//! - [`networks`]: which addresses are blocked, and the grants that lift it.
//! - [`policy`]: the per-caller allow-list of origins and networks, with a
//!   typed [`policy::Denied`].
//! - [`resolver`]: DNS that drops refused addresses.
//! - [`client`]: the guarded reqwest client.
//! - [`coding`]: the content codings the host asks for and decodes.

pub mod client;
pub mod coding;
pub mod networks;
pub mod policy;
pub mod resolver;
