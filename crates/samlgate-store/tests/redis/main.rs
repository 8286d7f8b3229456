//! The store against real redis-server processes (one test binary; each
//! test starts its own servers on free loopback ports).

mod certs;
mod cluster_tls;
mod failure;
mod feed;
mod replay;
// Shared with the gateway's cluster tests, which use more of it.
#[allow(dead_code)]
mod server;
mod support;
