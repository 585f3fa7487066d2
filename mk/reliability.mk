# Reliability targets, included by the top-level Makefile (see
# tests/RELIABILITY.md): the fault-injection test binary, the Spin model of
# the ring (`make model`), valgrind memcheck over the C tests
# (`make test-valgrind`).

# test_fault links the ordinary libffb objects with every call below
# redirected to tests/fault/fault.c, which can make the Nth one fail.
FAULT_WRAP := memfd_create ftruncate fcntl mmap sendmsg recvmsg malloc calloc realloc strdup eventfd \
	socket socketpair connect bind listen getsockopt pthread_create \
	io_uring_queue_init io_uring_submit io_uring_submit_and_wait io_uring_submit_and_wait_timeout
FAULT_SRCS := tests/fault/test_fault.c tests/fault/fault.c

TESTS += $(BUILD)/tests/test_fault
$(BUILD)/tests/test_fault: $(FAULT_SRCS) tests/fault/fault.h tests/testutil.h $(BUILD)/libffb.a | $(BUILD)/.deps-test
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(FFB_CFLAGS) -Itests -o $@ $(FAULT_SRCS) $(BUILD)/libffb.a \
		$(foreach f,$(FAULT_WRAP),-Wl,--wrap=$(f)) -lcmocka $(LIBS)

DEPS_MODEL := spin

.PHONY: model test-valgrind

# Spin: the real ring protocol passes, every mutant is caught (~30 s).
model:
	$(Q)mk/deps.sh $(DEPS_MODEL) && ring/model/check.sh

# valgrind memcheck over what valgrind 3.19 can run (its limits with io_uring
# are in mk/valgrind.sh). Needs a build without SANITIZE.
VALGRIND_TESTS := test_arena test_ring test_registry test_badfd
test-valgrind: $(VALGRIND_TESTS:%=$(BUILD)/tests/%) $(BUILD)/tests/test_fault $(BUILD)/ffb
	$(Q)if [ -n "$(SANITIZE)" ]; then echo "test-valgrind: build without SANITIZE"; exit 2; fi
	$(Q)BUILD=$(BUILD) mk/valgrind.sh
