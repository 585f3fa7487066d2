# Coverage-guided fuzzing with libFuzzer, included by the top-level Makefile
# (see tests/RELIABILITY.md, "Fuzzing"). The library sources are compiled
# again with clang into $(BUILD)/fuzz/obj/ with
# -fsanitize=fuzzer-no-link,address,undefined (the gcc objects are never
# reused), and each tests/fuzz/fuzz_*.c links them into $(BUILD)/fuzz/.
#
#   make fuzz         every target, one after the other, for FUZZ_RUNS
#                     executions (10^6) or FUZZ_TIME seconds (1800), whichever
#                     comes first: on demand, well under an hour on 2 cores
#   make fuzz-smoke   every target's seed corpus, then FUZZ_SMOKE_TIME s (25)
#
# Both keep the working corpus in $(BUILD)/fuzz/corpus/<target>/ and put
# crashing inputs in $(BUILD)/fuzz/artifacts/ (mk/fuzz.sh).

CLANG           ?= clang
FUZZ_RUNS       ?= 1000000
FUZZ_TIME       ?= 1800
FUZZ_SMOKE_TIME ?= 25

FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -std=gnu11 -g -O1 -Wall -Wextra -Wshadow -Wno-missing-field-initializers \
	-D_GNU_SOURCE -Iinclude -Iring -Isrc -Itests/fuzz $(FUZZ_SAN)
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/%)
FUZZ_OBJS    := $(LIB_SRCS:src/%.c=$(FUZZ_DIR)/obj/%.o)
DEPS_FUZZ    := clang libclang-rt-14-dev

.PHONY: fuzz fuzz-smoke fuzz-build

$(BUILD)/.deps-fuzz:
	$(Q)mkdir -p $(BUILD) && mk/deps.sh $(DEPS_FUZZ) $(DEPS_BUILD) && touch $@

$(FUZZ_DIR)/obj/%.o: src/%.c $(HEADERS) mk/fuzz.mk | $(BUILD)/.deps-fuzz
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CLANG   $<")
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/libffb.a: $(FUZZ_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

# --wrap: fuzzutil.h counts the arena mappings as they are made.
$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzzutil.h tests/fake_server.h tests/hostile_entries.h $(FUZZ_DIR)/libffb.a
	@$(if $(Q),echo "  CLANG   $@")
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_DIR)/libffb.a $(LIBS) \
		-Wl,--wrap=mmap -Wl,--wrap=munmap

fuzz-build: $(FUZZ_BINS)

fuzz: $(FUZZ_BINS)
	$(Q)BUILD=$(BUILD) FUZZ_RUNS=$(FUZZ_RUNS) mk/fuzz.sh $(FUZZ_TIME) $(FUZZ_TARGETS)

fuzz-smoke: $(FUZZ_BINS)
	$(Q)BUILD=$(BUILD) mk/fuzz.sh $(FUZZ_SMOKE_TIME) $(FUZZ_TARGETS)
