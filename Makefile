# The two commands of the README: `make demo` and `make test`.
CARGO ?= cargo

.PHONY: demo test lint bench fuzz deps verify-example

deps:
	scripts/deps.sh

# Checks, then every test: unit, conformance corpus, attack fixtures, c14n
# differential corpus, fuzz seeds.
test: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) test --workspace --locked
	$(CARGO) build --benches --locked

bench: deps
	$(CARGO) bench --bench verify

# Bounded local fuzzing (needs nightly-free cargo-fuzz; see fuzz/README.md).
fuzz:
	cd fuzz && for t in xml_parse c14n saml_response; do \
	  $(CARGO) fuzz run $$t -- -max_total_time=$${FUZZ_SECONDS:-600} || exit 1; done
