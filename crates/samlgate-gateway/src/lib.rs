//! samlgate's reverse proxy: the data plane (pingora process and listeners,
//! hyper HTTP) with the SAML endpoints
//! (ACS, metadata), sealed sessions, identity headers, SP-initiated login,
//! metrics and the admin listener; IdP metadata feeds; the demo IdP and echo
//! backend of `samlgate demo`.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod acs;
pub mod admin;
pub mod authority;
pub mod check;
pub mod cluster_metrics;
pub mod config;
pub mod cookie_filter;
pub mod dataplane;
pub mod demo;
pub mod headers;
pub mod ip_block;
pub mod key_cache;
pub mod local_http;
pub mod login;
pub mod metadata_feed;
pub mod metrics;
pub mod pages;
pub mod path;
pub mod reason;
pub mod seal;
pub mod server;
pub mod session;
pub mod slo;
pub mod state;
