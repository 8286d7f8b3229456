//! The store against real redis-server processes (one test binary; each
//! test starts its own servers on free loopback ports).

mod certs;
mod cluster_tls;
mod failure;
mod feed;
mod replay;
mod support;
