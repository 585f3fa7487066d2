# ffi-bridge — the one entry point. `make` builds libffb and the ffb tool;
# `make test`, `make demo`, `make bench`, `make install PREFIX=...`.
# SANITIZE=address|undefined|thread builds into build-$(SANITIZE)/. V=1 shows commands.

SANITIZE ?=
PREFIX   ?= /usr/local
BUILD    ?= build$(if $(SANITIZE),-$(SANITIZE))
CC       ?= gcc
CFLAGS   ?= -O2 -g
V        ?= 0

Q := $(if $(filter 1,$(V)),,@)
SAN_address   := -fsanitize=address -fno-omit-frame-pointer
SAN_undefined := -fsanitize=undefined -fno-sanitize-recover=all
SAN_thread    := -fsanitize=thread -Wno-tsan
SANFLAGS := $(SAN_$(SANITIZE))
FFB_CFLAGS := -std=gnu11 -fPIC -Wall -Wextra -Wshadow -Wno-missing-field-initializers \
	-D_GNU_SOURCE -Iinclude -Iring -Isrc $(SANFLAGS) $(CFLAGS)
LIBS := -luring -lpthread

SOVERSION := 0
VERSION   := 0.1.0
LIB_SRCS := $(wildcard src/*.c)
LIB_OBJS := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
HEADERS  := $(wildcard include/*.h ring/*.h src/*.h)
TESTS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))

DEPS_BUILD := liburing-dev pkg-config
DEPS_TEST  := libcmocka-dev valgrind fuse3 libfuse3-dev

# tests/stallfs.h mounts a FUSE file system where libfuse3 is installed
# (test_socket_side says so when it is not, and runs without it).
FUSE_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null && echo -DFFB_HAVE_FUSE3)
FUSE_LIBS   := $(shell pkg-config --libs fuse3 2>/dev/null)

.PHONY: all gen gen-check test test-c test-go test-rust test-docs test-cross test-sanitizers test-miri demo bench bench-quick torture install clean deps-build deps-test

all: $(BUILD)/libffb.a $(BUILD)/libffb.so $(BUILD)/ffb

$(BUILD)/.deps-build:
	$(Q)mkdir -p $(BUILD) && mk/deps.sh $(DEPS_BUILD) && touch $@
$(BUILD)/.deps-test:
	$(Q)mkdir -p $(BUILD) && mk/deps.sh $(DEPS_TEST) && touch $@

$(BUILD)/obj/%.o: src/%.c $(HEADERS) Makefile | $(BUILD)/.deps-build
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(FFB_CFLAGS) -c $< -o $@

$(BUILD)/libffb.a: $(LIB_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

# Only the ffb_* API is exported; ffb__* internals stay hidden.
$(BUILD)/libffb.so: $(LIB_OBJS) mk/libffb.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,libffb.so.$(SOVERSION) -Wl,--version-script=mk/libffb.map \
		$(SANFLAGS) -o $@.$(VERSION) $(LIB_OBJS) $(LIBS)
	$(Q)ln -sf libffb.so.$(VERSION) $@.$(SOVERSION) && ln -sf libffb.so.$(VERSION) $@

$(BUILD)/ffb: $(wildcard src/tool/*.c src/tool/*.h) $(BUILD)/libffb.a
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(FFB_CFLAGS) -o $@ $(wildcard src/tool/*.c) $(BUILD)/libffb.a $(LIBS)

$(BUILD)/tests/%: tests/%.c tests/testutil.h tests/fake_server.h tests/zfields.h tests/stallfs.h tests/attacks.h $(BUILD)/libffb.a | $(BUILD)/.deps-test
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(FFB_CFLAGS) $(TEST_CFLAGS) -Itests -o $@ $< $(BUILD)/libffb.a -lcmocka $(LIBS) $(TEST_LIBS)

$(BUILD)/tests/test_socket_side: TEST_CFLAGS = $(FUSE_CFLAGS)
$(BUILD)/tests/test_socket_side: TEST_LIBS = $(FUSE_LIBS)

# Tests that serve the demo callbacks of `ffb serve` link them in.
DEMO_TESTS := $(BUILD)/tests/test_scall $(BUILD)/tests/test_client_handlers
$(DEMO_TESTS): $(BUILD)/tests/%: tests/%.c tests/testutil.h tests/raw_client.h src/tool/demo.c src/tool/demo.h $(BUILD)/libffb.a | $(BUILD)/.deps-test
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(FFB_CFLAGS) -Itests -Isrc/tool -o $@ $< src/tool/demo.c $(BUILD)/libffb.a -lcmocka $(LIBS)

include mk/reliability.mk
include mk/fuzz.mk

# ---- generated copies of the protocol ---------------------------------------
# mk/gen asks the compilers (clang's AST, the preprocessor, a probe it
# compiles and runs) what include/ffb_status.h, ffb_layout.h and ffb.h say,
# and writes go/z*.go, rust/src/z*.rs, src/zstatus.c, tests/zfields.h and
# the generated tables of PROTOCOL.md. Change a header, then `make gen`.
DEPS_GEN := clang
$(BUILD)/.deps-gen:
	$(Q)mkdir -p $(BUILD) && mk/deps.sh $(DEPS_GEN) && touch $@

gen: | $(BUILD)/.deps-gen
	$(Q)cd mk/gen && go run . -root ../..

# CI: the committed copies are what the headers generate.
gen-check: gen
	$(Q)git diff --exit-code && test -z "$$(git status --porcelain --untracked-files=all)" || \
		{ git status --short; echo "gen-check: run 'make gen' and commit what it changed"; exit 1; }

# ---- tests -----------------------------------------------------------------
# Every suite runs, whatever the ones before it did (mk/suites.sh): each C
# test binary, then Go, Rust, the cross-language tests and the model, each
# with one summary line at the end (its logs in $(BUILD)/test-logs/); one
# failure fails `make test`, after all of them ran.
SUITES_C = $(foreach t,$(TESTS),'$(notdir $(t))=FFB_BIN=$(abspath $(BUILD)/ffb) $(t)')
SUITES_MORE = $(foreach s,go rust cross docs,'$(s)=$(MAKE) --no-print-directory test-$(s)') 'model=$(MAKE) --no-print-directory model'
SUITES_RUN = LOGDIR=$(BUILD)/test-logs mk/suites.sh

test: $(TESTS) $(BUILD)/ffb
	$(Q)$(SUITES_RUN) 'suites=tests/suites_test.sh' $(SUITES_C) $(if $(SANITIZE),,$(SUITES_MORE))

test-c: $(TESTS) $(BUILD)/ffb
	$(Q)$(SUITES_RUN) $(SUITES_C)

test-go: $(BUILD)/ffb
	$(Q)if [ -f go/go.mod ]; then cd go && go vet ./... && CGO_ENABLED=0 go build ./... && \
		FFB_BIN=$(abspath $(BUILD)/ffb) go test -race -count=1 ./... ; fi

# The READMEs' code blocks: checked against the files the tests compile,
# and the C ones built against `make install` through pkg-config and run.
test-docs: $(BUILD)/ffb
	$(Q)BUILD=$(BUILD) mk/test-docs.sh

# The crate's tests, clippy and rustdoc; then mk/crate-smoke.sh: the crates
# as `cargo package` packs them, built and run alone in an empty folder.
test-rust:
	$(Q)if [ -f rust/Cargo.toml ]; then cd rust && cargo test --quiet && cargo test --quiet --features tokio --test pool && \
		cargo clippy --quiet --all-targets --features tokio -- -D warnings && \
		cargo clippy --quiet -p ffb-sys --all-targets -- -D warnings && \
		RUSTDOCFLAGS="-D warnings" cargo doc --quiet --no-deps --features tokio && \
		../mk/crate-smoke.sh ; fi

# ASan+UBSan on every C test; TSan where both ends share a process.
TSAN_TESTS := test_ring test_registry test_echo test_pool test_client_handlers
# Each sanitizer's run goes on after a failure, and so do the others.
test-sanitizers:
	$(Q)rc=0; \
	$(MAKE) --no-print-directory test-c SANITIZE=address || rc=1; \
	$(MAKE) --no-print-directory test-c SANITIZE=undefined || rc=1; \
	$(MAKE) --no-print-directory test-c SANITIZE=thread TESTS="$(TSAN_TESTS:%=build-thread/tests/%)" || rc=1; \
	exit $$rc

# Miri over the Rust crate's pure-Rust tests (status table, layout mirror,
# the VolatileSlice view);
# tests that call into the C core are ignored under Miri, which cannot run C.
test-miri:
	$(Q)rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	$(Q)rustup component add --toolchain nightly miri rust-src >/dev/null
	$(Q)cd rust && MIRIFLAGS=-Zmiri-disable-isolation cargo +nightly miri test --test status_table --test layout --test view

test-cross: $(BUILD)/ffb
	$(Q)BUILD=$(BUILD) tests/cross/run.sh

# ---- main job, benchmarks, long runs ------------------------------------------
demo: all
	$(Q)BUILD=$(BUILD) mk/demo.sh

bench: all
	$(Q)$(MAKE) -C bench full BUILD=$(abspath $(BUILD))

bench-quick: all
	$(Q)$(MAKE) -C bench quick BUILD=$(abspath $(BUILD))

torture: all
	$(Q)BUILD=$(BUILD) tests/torture/run.sh

# ---- install -----------------------------------------------------------------
install: all
	$(Q)install -d $(DESTDIR)$(PREFIX)/include/ffb $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	$(Q)install -m 644 include/ffb.h include/ffb_layout.h include/ffb_status.h $(DESTDIR)$(PREFIX)/include/ffb/
	$(Q)install -m 644 $(BUILD)/libffb.a $(DESTDIR)$(PREFIX)/lib/
	$(Q)install -m 755 $(BUILD)/libffb.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	$(Q)ln -sf libffb.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libffb.so.$(SOVERSION)
	$(Q)ln -sf libffb.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libffb.so
	$(Q)install -m 755 $(BUILD)/ffb $(DESTDIR)$(PREFIX)/bin/
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' mk/ffb.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/ffb.pc
	@echo "installed ffb $(VERSION) into $(DESTDIR)$(PREFIX)"

clean:
	rm -rf build build-address build-undefined build-thread
