//! Runs the conformance corpus (tests/conformance) against the built
//! `samlgate verify`.

mod common;
use common::run_corpus;

#[test]
fn conformance_generated_cases() {
    run_corpus("conformance/cases", 51);
}

#[test]
fn conformance_realworld_cases() {
    run_corpus("conformance/realworld", 308);
}
