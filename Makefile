# graft: one non-recursive Makefile. See README.md.
#   make            build build/graft
#   make check      install dependencies, build, run every test
#   make demo       install dependencies, build, patch the bundled sample service live
#   make bench      measure stop times (writes bench/results.txt)
#   make fuzz       fuzz the patch parser (clang libFuzzer)
#   make lint       clang-format check, cppcheck, grep rules
# Switches: WERROR=0, SANITIZE=address,undefined, CC=clang

CC ?= gcc
WERROR ?= 1
SANITIZE ?=
PREFIX ?= /usr/local
B := build

WARN := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wpointer-arith -Wwrite-strings -Wundef -Wvla -Wimplicit-fallthrough -fno-common
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE -pthread $(CFLAGS) $(WARN) -Isrc -MMD -MP
ifeq ($(WERROR),1)
ALL_CFLAGS += -Werror
endif
ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif
# offsets are computed in these layers: narrowing must be explicit
CONV := -Wconversion -Wno-sign-conversion
LIBS := -lelf -ljansson -lsodium -lsqlite3 -pthread

DEB_PACKAGES := build-essential pkg-config libelf-dev libcmocka-dev libjansson-dev \
	libsodium-dev libsqlite3-dev clang jq strace patch

LIB_SRCS := $(wildcard src/util/*.c src/elf/*.c src/proc/*.c src/ptrace/*.c src/link/*.c \
	src/patch/*.c src/build/*.c src/store/*.c)
CLI_SRCS := $(wildcard src/cli/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(B)/%.o)

all: $(B)/graft

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(if $(filter src/elf/% src/link/% src/build/%,$<),$(CONV)) -c $< -o $@

$(B)/libgraft.a: $(LIB_OBJS)
	ar rcs $@ $^

$(B)/graft: $(CLI_OBJS) $(B)/libgraft.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(B)/libgraft.a $(LIBS)

# ---- dependencies -------------------------------------------------------
# apt-get only when something is missing, so 'make check' stays fast offline.
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "error: run 'make deps' as root (apt-get)" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# ---- tests ----------------------------------------------------------------
include tests/tests.mk

check: deps
	$(MAKE) all tests
	@tests/run-tests.sh $(B)

bench: deps
	$(MAKE) all tests
	@bench/run-bench.sh $(B)

demo: deps
	$(MAKE) all
	@sample/demo.sh $(B)

lint:
	@clang-format --dry-run --Werror $(LIB_SRCS) $(CLI_SRCS) $(wildcard src/*/*.h) || \
		{ echo "lint: run clang-format -i on the files above"; exit 1; }
	@# cppcheck does not understand __attribute__((cleanup)): leaks are left to
	@# ASan/valgrind runs of the tests (SANITIZE=address,undefined)
	@cppcheck --quiet --error-exitcode=1 --enable=warning,portability --std=c11 \
		--suppress=missingIncludeSystem --suppress=memleak -Isrc src
	@# writing files with fprintf is fine; printing to the terminal is the CLI's job
	@! grep -nE '\b(printf|puts|perror|exit)\(|fprintf\(std(out|err)' $(LIB_SRCS) || \
		{ echo "lint: library code must not print or exit"; exit 1; }

install: all
	install -D -m 0755 $(B)/graft $(DESTDIR)$(PREFIX)/bin/graft

clean:
	rm -rf $(B)

.PHONY: all deps check bench demo fuzz lint install clean tests

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d)
