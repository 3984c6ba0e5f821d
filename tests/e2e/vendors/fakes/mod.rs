//! Fakes of vendors' APIs, each built from the vendor's documentation
//! (cited in its module doc) and strict where the vendor is: wrong
//! credentials, malformed requests and statements they would refuse fail
//! here too.

// A fake's helpers answer refusals as the HTTP response the vendor sends,
// which is large next to the values they return otherwise.
#![allow(clippy::result_large_err)]

pub mod anaf;
pub mod aps;
pub mod aws_ce;
pub mod azure_cost;
pub mod bigquery;
pub mod discord;
pub mod fancourier;
pub mod frappe;
mod frappe_site;
pub mod gmail;
pub mod google;
pub mod graph_mail;
pub mod meta_ads;
pub mod neo4j;
pub mod nextcloud;
pub mod openapi;
pub mod quickbooks;
mod quickbooks_data;
pub mod sage;
pub mod salesforce;
pub mod sap_b1;
pub mod shopify;
pub mod slack;
pub mod teams;
pub mod teams_graph;
pub mod tiktok_ads;
pub mod trendyol;
pub mod xero;
mod xero_data;
