# Test programs: unit tests (cmocka) and the fuzz corpus replayer.
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/unit/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz-*.c)
REPLAY_BINS := $(FUZZ_SRCS:tests/fuzz/fuzz-%.c=$(B)/tests/fuzz/replay-%)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/fuzz-%.c=$(B)/tests/fuzz/fuzz-%)

tests: $(UNIT_BINS) $(REPLAY_BINS)

$(B)/tests/unit/%: tests/unit/%.c $(B)/libgraft.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libgraft.a $(LIBS) -lcmocka

# the replayer runs each fuzz target over its checked-in corpus (make check)
$(B)/tests/fuzz/replay-%: tests/fuzz/fuzz-%.c tests/fuzz/replay.c $(B)/libgraft.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -DCORPUS_DIR='"$(CURDIR)/tests/fuzz/corpus/$*"' -o $@ \
		tests/fuzz/fuzz-$*.c tests/fuzz/replay.c $(B)/libgraft.a $(LIBS)

# libFuzzer build: its own objects, clang only
FUZZ_FLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined
$(B)/tests/fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(LIB_SRCS)
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -o $@ $< $(LIB_SRCS) $(LIBS)

FUZZ_SECONDS ?= 60
fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$${f##*/fuzz-}; mkdir -p $(B)/fuzz-work/$$n; \
		echo "fuzzing $$n for $(FUZZ_SECONDS) s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) $(B)/fuzz-work/$$n tests/fuzz/corpus/$$n || exit 1; done

.PHONY: tests fuzz
