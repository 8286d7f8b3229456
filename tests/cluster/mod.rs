//! Support for tests/gateway_cluster.rs: real redis-server processes (one
//! server, a TLS server, a three-master Cluster), a TCP relay that can cut
//! one node's Redis connections, a fleet of real `samlgate run` processes
//! sharing them, browsers, SAML messages, and a pysaml2 IdP over HTTP.
//! The tests themselves are the `*_tests` modules.

#![allow(dead_code)]

// The same test CA as samlgate-store's Redis tests: one file, two test crates.
#[path = "../../crates/samlgate-store/tests/redis/certs.rs"]
mod certs;
pub(crate) mod cut;
pub(crate) mod fleet;
pub(crate) mod http;
pub(crate) mod pysaml2;
// The same redis-server harness as samlgate-store's Redis tests.
#[path = "../../crates/samlgate-store/tests/redis/server.rs"]
pub(crate) mod redis;
pub(crate) mod saml;

mod admin_tests;
mod failure_tests;
mod pysaml2_tests;
mod replay_tests;
mod slo_tests;
mod topology_tests;
