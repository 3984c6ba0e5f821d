//! End-to-end tests: real components compiled from `guests/`, the real
//! `wharf` binary, fake upstreams on loopback, and (for SSRF) a network
//! namespace of our own.

mod api;
mod api_edges;
mod api_support;
mod capabilities;
mod cli;
mod cluster;
mod connectors;
mod console;
mod contract_v01;
mod credentials;
mod dev_cli;
mod engine;
mod fake_oauth;
mod fakes;
mod guide;
mod hardening;
mod hook_handshakes;
mod hooks;
mod jq;
mod languages;
mod login;
mod nodes;
mod oauth;
mod openapi;
mod publishers;
mod rate_budgets;
mod resources;
mod rotation;
mod sandbox;
mod scaffold;
mod schemathesis;
mod serve;
mod signing;
mod sso;
mod ssrf;
mod support;
mod syncs;
mod tls_trust;
mod vendors;
mod warm_instances;
mod wasi_http;
