# ppcoord: pipeline-parallel placement for multi-node LLM serving.
#
#   make            build the three programs into build/
#   make check      install missing build dependencies, run every test
#   make demo       head and three agents placing Llama-3.1-70B over TLS
#   make deps       install (as root) or list the Debian packages needed
#   make install    PREFIX=/usr/local DESTDIR= ...
#   make verify-units   systemd-analyze verify on the units
#   make check SANITIZE=1   the same suite under ASan and UBSan (build/asan/)

PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
BINDIR ?= $(PREFIX)/bin
SHAREDIR ?= $(PREFIX)/share/ppcoord
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
DESTDIR ?=

VERSION := 0.1.0

ifeq ($(FUZZ),1)
# libFuzzer build: every object instrumented for coverage, ASan and UBSan.
BUILD ?= build/fuzz
CC := clang
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else ifeq ($(SANITIZE),1)
BUILD ?= build/asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# Every program stops at its first report and checks for leaks at exit.
# The daemons of the integration tests write their reports into their
# logs, which tests/integ/lib.sh scans when each test ends.
export ASAN_OPTIONS ?= halt_on_error=1:detect_leaks=1:check_initialization_order=1
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS ?= suppressions=$(CURDIR)/tests/lsan.supp
else
BUILD ?= build
SANFLAGS :=
endif

PKGS := libevent libevent_openssl openssl libprotobuf-c libconfig jansson libcurl zlib
DEB_PACKAGES := build-essential pkg-config libevent-dev libssl-dev \
	libprotobuf-c-dev protobuf-c-compiler libconfig-dev libcmocka-dev \
	libjansson-dev openssl iproute2 procps jq curl etcd-server \
	libcurl4-openssl-dev zlib1g-dev python3

CC ?= cc
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wformat=2 \
	-Wno-unused-parameter -Wmissing-prototypes -Wstrict-prototypes \
	-DPPCOORD_VERSION='"$(VERSION)"' $(SANFLAGS)
CPPFLAGS += -Ilib -I$(BUILD)/gen $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS += $(SANFLAGS)
LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldl -lm

CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

GEN_C := $(BUILD)/gen/ppcoord.pb-c.c
GEN_H := $(BUILD)/gen/ppcoord.pb-c.h

LIB_SRC := $(sort $(wildcard lib/*.c))
LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(BUILD)/obj/gen/ppcoord.pb-c.o
LIB_A := $(BUILD)/libppcoord.a

HEAD_SRC := $(sort $(wildcard daemon/head*.c))
AGENT_SRC := $(sort $(wildcard daemon/agent*.c))
CTL_SRC := $(sort $(wildcard daemon/ctl*.c))

PROGRAMS := $(BUILD)/ppcoord-head $(BUILD)/ppcoord-agent $(BUILD)/ppcoordctl

UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
INTEG_TESTS := $(sort $(wildcard tests/integ/t_*.sh))

# Shared objects that tests load in place of vendor libraries.
FAKE_NVML := $(BUILD)/tests/libnvidia-ml-fake.so

FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/bin/%,$(FUZZ_SRC))
FUZZ_TIME ?= 60
REPLAY_BIN := $(patsubst tests/fuzz/fuzz_%.c,$(BUILD)/tests/replay_%,$(FUZZ_SRC))

.PHONY: all check unit integ demo deps clean install bench fuzz verify-units fuzz-build fuzz-replay valgrind

all: $(PROGRAMS)

deps:
	@sh tests/deps.sh $(DEB_PACKAGES)

$(GEN_C) $(GEN_H): proto/ppcoord.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen --proto_path=proto proto/ppcoord.proto

$(BUILD)/obj/%.o: %.c $(GEN_H) $(wildcard lib/*.h daemon/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Generated code is not ours to warn about.
$(BUILD)/obj/gen/ppcoord.pb-c.o: $(GEN_C) $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(filter-out -Wmissing-prototypes -Wshadow,$(CFLAGS)) -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/ppcoord-head: $(patsubst %.c,$(BUILD)/obj/%.o,$(HEAD_SRC)) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/ppcoord-agent: $(patsubst %.c,$(BUILD)/obj/%.o,$(AGENT_SRC)) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/ppcoordctl: $(patsubst %.c,$(BUILD)/obj/%.o,$(CTL_SRC)) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Some tests include a daemon source file to reach its static functions.
$(BUILD)/tests/%: tests/unit/%.c $(LIB_A) $(wildcard tests/unit/*.h daemon/*.c daemon/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CMOCKA_CFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(LIB_A) \
		$(LDFLAGS) $(CMOCKA_LIBS) $(LDLIBS)

$(FAKE_NVML): tests/fake_nvml.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -shared -o $@ $<

unit: $(UNIT_BIN) $(FAKE_NVML)
	@fail=0; for t in $(UNIT_BIN); do \
		echo "== $$t"; $$t || fail=1; \
	done; exit $$fail

# Feeds the fuzz seed corpora and every past crash input to the parsers.
$(BUILD)/tests/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(filter-out -Wmissing-prototypes,$(CFLAGS)) -o $@ \
		$< tests/fuzz/replay.c $(LIB_A) $(LDFLAGS) $(LDLIBS)

fuzz-replay: $(REPLAY_BIN)
	@fail=0; for t in $(REPLAY_BIN); do \
		n=$${t##*/replay_}; \
		$$t tests/fuzz/corpus/$$n tests/fuzz/regress/$$n || fail=1; \
	done; exit $$fail

# A hostile agent for the misuse tests in tests/integ/t_misuse_*.sh.
$(BUILD)/tests/badpeer: tests/tools/badpeer.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB_A) $(LDFLAGS) $(LDLIBS)

# An independent reference for `ppcoordctl plan`, run by
# tests/integ/t_plan_reference.sh on random cases.
$(BUILD)/tests/planref: tests/tools/planref.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) $(LDLIBS)

# A stand-in for systemd's notification socket, for tests/integ/t_units.sh.
$(BUILD)/tests/notifysink: tests/tools/notifysink.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS)

integ: $(PROGRAMS) $(FAKE_NVML) $(BUILD)/tests/badpeer $(BUILD)/tests/planref \
		$(BUILD)/tests/notifysink
	@BIN=$(CURDIR)/$(BUILD) sh tests/integ/run.sh $(INTEG_TESTS)

# The head and three agents, placed and then stopped, under Valgrind's
# memcheck: any memory error or leak in the four processes fails.
valgrind: deps
	@sh tests/deps.sh valgrind
	@$(MAKE) --no-print-directory all $(BUILD)/tests/badpeer
	@bash tests/valgrind.sh $(BUILD)

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz-replay
	@$(MAKE) --no-print-directory integ

demo: deps
	@$(MAKE) --no-print-directory all
	@BIN=$(CURDIR)/$(BUILD) sh tests/demo.sh

MAN8 := man/ppcoord-head.8 man/ppcoord-agent.8 man/ppcoordctl.8
MAN5 := man/ppcoord.conf.5
UNITS := systemd/ppcoord-head.service systemd/ppcoord-agent.service
EXAMPLES := conf/head.conf conf/agent.conf conf/inventory.json \
	conf/vllm-stage.service conf/vllm-stage.sh

# The units name /usr/sbin; installed elsewhere they name $(SBINDIR).
# The example vLLM unit starts $(BINDIR)/ppcoord-vllm-stage.
install: $(PROGRAMS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SHAREDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(BUILD)/ppcoord-head $(BUILD)/ppcoord-agent $(DESTDIR)$(SBINDIR)
	install -m 755 $(BUILD)/ppcoordctl $(DESTDIR)$(BINDIR)
	for u in $(UNITS); do \
		sed 's|/usr/sbin/|$(SBINDIR)/|g' $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u) && \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$(basename $$u) || exit 1; \
	done
	install -m 644 $(EXAMPLES) $(DESTDIR)$(SHAREDIR)
	chmod 755 $(DESTDIR)$(SHAREDIR)/vllm-stage.sh
	install -m 755 conf/vllm-stage.sh $(DESTDIR)$(BINDIR)/ppcoord-vllm-stage
	sed 's|/usr/local/bin/ppcoord-vllm-stage|$(BINDIR)/ppcoord-vllm-stage|g' \
		conf/vllm-stage.service > $(DESTDIR)$(SHAREDIR)/vllm-stage.service
	chmod 644 $(DESTDIR)$(SHAREDIR)/vllm-stage.service
	install -m 644 $(MAN8) $(DESTDIR)$(MANDIR)/man8
	install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5

# systemd-analyze checks that ExecStart= names an executable, so the units
# are verified with their paths pointing into the build directory.
verify-units: $(PROGRAMS)
	@rm -rf $(BUILD)/units && mkdir -p $(BUILD)/units
	@for u in $(UNITS); do \
		sed 's|/usr/sbin/|$(CURDIR)/$(BUILD)/|g' $$u > $(BUILD)/units/$$(basename $$u) || exit 1; \
	done
	sed 's|/usr/local/bin/ppcoord-vllm-stage|$(CURDIR)/conf/vllm-stage.sh|' \
		conf/vllm-stage.service > $(BUILD)/units/vllm-stage.service
	systemd-analyze verify --man=no $(BUILD)/units/*.service

clean:
	rm -rf build

# Coverage-guided fuzzing: `make fuzz FUZZ_TIME=SECONDS` runs every target
# for that long, starting from the seed corpus in tests/fuzz/corpus/.
# Crashes are written to build/fuzz/crash-*; each one found becomes a
# regression input under tests/fuzz/regress/, replayed by `make check`.
fuzz: deps
	@sh tests/deps.sh clang libclang-rt-14-dev
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-build
	@sh tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ_BIN)

fuzz-build: $(FUZZ_BIN)

build/fuzz/bin/%: tests/fuzz/%.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(filter-out -Wmissing-prototypes,$(CFLAGS)) \
		-fsanitize=fuzzer,address,undefined -o $@ $< $(LIB_A) $(LDLIBS)

# Head load benchmark: N simulated agents against a real head, beside the
# machine's raw TLS 1.3 handshake rate. `make bench N=2000` runs one size.
N ?= 1000 10000
$(BUILD)/loadgen: tests/bench/loadgen.c $(LIB_A)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIB_A) $(LDFLAGS) $(LDLIBS)

bench: deps
	@$(MAKE) --no-print-directory all $(BUILD)/loadgen
	@sh tests/bench/bench.sh $(BUILD) $(N)

# Planner timings on 1,024 nodes and 1,000 layers; see BENCHMARKS.md.
.PHONY: bench-plan
bench-plan: $(BUILD)/plan_bench
	$(BUILD)/plan_bench

$(BUILD)/plan_bench: tests/bench/plan_bench.c $(LIB_A) tests/unit/plan_fixture.h
	$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit -o $@ $< $(LIB_A) \
		$(LDFLAGS) $(LDLIBS)
