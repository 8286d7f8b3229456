//! Several real `samlgate run` processes as one system through a real
//! Redis (issue 10, docs/cluster tests): replay, Single Logout both ways,
//! admin revocation, Redis failures, Redis Cluster and TLS, and an SLO
//! round trip with pysaml2 as the IdP. The tests are in tests/cluster/
//! (`*_tests` modules), with their support.

mod cluster;
mod gateway;
