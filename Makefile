# The two commands of the README: `make demo` and `make test`.
CARGO ?= cargo

.PHONY: demo test lint bench fuzz deps verify-example

deps:
	scripts/deps.sh

# The embedded default: gateway + demo IdP + echo backend on loopback.
demo: deps
	$(CARGO) run --release --locked --bin samlgate -- demo

# Checks, then every test: unit, conformance corpus, attack fixtures, c14n
# differential corpus, fuzz seeds.
test: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) test --workspace --locked
	$(CARGO) build --benches --locked

bench: deps
	$(CARGO) bench --bench verify

# Bounded local fuzzing on stable Rust (cargo install cargo-fuzz; the
# sanitizer is off because stable has no -Zsanitizer, and the code forbids
# unsafe anyway). FUZZ_SECONDS per target, default 600. See fuzz/README.md.
fuzz:
	cd fuzz && for t in xml_parse c14n saml_response metadata slo_message; do \
	  mkdir -p corpus/$$t && cp seeds/$$t/* corpus/$$t/ && \
	  $(CARGO) fuzz run -s none $$t corpus/$$t -- -max_total_time=$${FUZZ_SECONDS:-600} \
	    -rss_limit_mb=2048 -timeout=10 || exit 1; done
