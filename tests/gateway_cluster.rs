//! Several real `samlgate run` processes as one system through a real
//! Redis (issue 10): replay across nodes, Single Logout both ways,
//! admin revocation, Redis failures and recovery, Redis Cluster and TLS,
//! and SLO round trips with pysaml2 as the IdP. The tests are the
//! `*_tests` modules in tests/cluster/, with their support; what each
//! proves: docs/cluster-tests.md.

mod cluster;
mod gateway;
