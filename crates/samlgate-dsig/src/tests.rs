//! Unit tests of signing and verification.
