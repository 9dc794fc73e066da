# aedcurate - build, test, bench, fuzz.
#
#   make deps    install system packages (Debian) and build FAISS's C API
#   make         build bin/aedcurate
#   make test    run every test (unit, CLI, Python cross-checks, browser)
#   make bench   run the benchmarks next to their peers; prints ratios
#   make asan    build with AddressSanitizer + UBSan and run the tests on it
#   make fuzz    build the libFuzzer targets and run each for FUZZ_SECONDS
#
# Sources are picked up by wildcard: a new file in src/<dir>/ or src/<dir>/<stage>/
# needs no edit here.

PKGS    := sqlite3 libcurl libcrypto libavformat libavcodec libswresample libavutil fftw3 jansson
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CC      ?= cc
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-missing-field-initializers \
           -Iinclude -Isrc -Ibuild/gen -Ibuild/faiss-capi/include -pthread $(PKG_CFLAGS)
FAISS_C := build/faiss-capi/lib/libfaiss_c.a
# FAISS's scalar quantizer built for AVX2 (src/build/build_faiss_sq.sh):
# linked ahead of libfaiss.a, in its place, when this machine has AVX2, FMA
# and F16C (a build folder copied from another machine may hold it).
FAISS_SQ_STAMP := build/faiss-capi/lib/faiss_sq.stamp
CPU_SIMD := $(shell grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && \
                    grep -qw f16c /proc/cpuinfo && echo y)
FAISS_SQ := $(if $(CPU_SIMD),$(wildcard build/faiss-capi/lib/faiss_sq_simd.o))
LDLIBS  += $(PKG_LIBS) -lopenblas $(FAISS_C) $(FAISS_SQ) -lfaiss -lstdc++ -lgomp -lm -pthread

BUILD   ?= build/obj
V       ?= 0
Q       := $(if $(filter 1,$(V)),,@)
BIN     ?= bin/aedcurate
SRCS    := $(sort $(wildcard src/*.c src/*/*.c src/*/*/*.c))
OBJS    := $(SRCS:%.c=$(BUILD)/%.o)
LIBOBJS := $(filter-out $(BUILD)/src/main.o,$(OBJS))
SQL     := $(sort $(wildcard sql/*.sql))
GEN     := build/gen/schema_sql.h

UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 20
FUZZ_SEED ?= 1

SHARED  ?= $(abspath ../shared)
export AEDCURATE_SHARED ?= $(SHARED)

.PHONY: all deps faiss-capi test unit asan fuzz bench clean models libobjs demo

all: $(BIN)

$(BIN): $(OBJS) $(FAISS_C) $(FAISS_SQ)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@.tmp $(OBJS) $(LDFLAGS) $(LDLIBS) && mv $@.tmp $@

$(BUILD)/%.o: %.c $(GEN)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# The schema migrations are compiled into the binary as C string literals.
$(GEN): $(SQL) src/build/embed_sql.sh
	@mkdir -p $(dir $@)
	sh src/build/embed_sql.sh $(SQL) > $@.tmp && mv $@.tmp $@

$(BUILD)/tests/%: tests/unit/%.c $(LIBOBJS) $(FAISS_C) $(FAISS_SQ)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LIBOBJS) $(LDFLAGS) $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)

test: $(BIN) $(UNIT_BINS)
	sh tests/run.sh

# Sanitizer build: separate object tree and binary, same test driver.
asan:
	$(MAKE) BUILD=build/asan BIN=build/asan/aedcurate OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" LDFLAGS="-fsanitize=address,undefined" build/asan/aedcurate unit
	AEDCURATE_BIN=build/asan/aedcurate AEDCURATE_UNIT_DIR=build/asan/tests AEDCURATE_SANITIZED=1 \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 sh tests/run.sh

# libFuzzer targets: the library objects are built once with clang and
# coverage instrumentation (build/fuzzobj), then each tests/fuzz/fuzz_NAME.c
# is linked against them and run for FUZZ_SECONDS on its seeds.
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
libobjs: $(LIBOBJS)
fuzz: $(GEN) $(FAISS_C)
	$(MAKE) CC=clang BUILD=build/fuzzobj OPT="-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)" libobjs
	@mkdir -p build/fuzz
	@set -e; for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
	  clang -O1 -g -fsanitize=fuzzer $(FUZZ_SAN) $(CFLAGS) -o build/fuzz/$$n $$f \
	    $(filter-out build/fuzzobj/src/main.o,$(SRCS:%.c=build/fuzzobj/%.o)) $(LDLIBS); \
	done
	@set -e; for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); s=$${n#fuzz_}; \
	  mkdir -p build/fuzz/corpus-$$n; \
	  if build/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=4096 -artifact_prefix=build/fuzz/ -seed=$(FUZZ_SEED) \
	       -print_final_stats=1 build/fuzz/corpus-$$n tests/fuzz/seeds/$$s >build/fuzz/$$n.log 2>&1; \
	  then echo "ok - fuzz $$n: $$(grep -o 'stat::number_of_executed_units: *[0-9]*' build/fuzz/$$n.log | grep -o '[0-9]*$$') runs, no crash"; \
	  else echo "not ok - fuzz $$n"; tail -40 build/fuzz/$$n.log; exit 1; fi; \
	done

bench: $(BIN)
	sh tests/bench/run.sh

# --- set-up on Debian -------------------------------------------------------
DEB_PKGS := build-essential pkg-config git ca-certificates curl \
            libsqlite3-dev sqlite3 libcurl4-openssl-dev libssl-dev \
            libavformat-dev libavcodec-dev libswresample-dev libavutil-dev ffmpeg \
            libfftw3-dev libopenblas-dev libfaiss-dev libjansson-dev libcmocka-dev \
            clang libclang-rt-14-dev dpkg-dev \
            python3 python3-numpy python3-torch chromium \
            slurmctld slurmd slurm-client munge

# Slurm's and munge's packages start their services when installed unless
# policy-rc.d says no (exit 101); the tests start their own, as root, from a
# temporary folder (tests/lib/slurm.sh). A policy-rc.d made here is removed
# after the install.
deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	prc=; if [ ! -e /usr/sbin/policy-rc.d ]; then prc=1; \
	  $$SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'; fi; \
	$$SUDO sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_PKGS)'; \
	rc=$$?; [ -z "$$prc" ] || $$SUDO rm -f /usr/sbin/policy-rc.d; \
	[ $$rc = 0 ] || { echo "make deps: apt-get failed" >&2; exit 1; }; \
	command -v npm >/dev/null || $$SUDO sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm' \
	  || { echo "make deps: could not install nodejs and npm" >&2; exit 1; }
	$(MAKE) faiss-capi
	cd web && npm install --no-audit --no-fund --loglevel=error

# Debian's libfaiss-dev ships the C API headers but not the compiled C API.
# Build faiss/c_api/*.cpp from Debian's own faiss source package against the
# installed libfaiss, into build/faiss-capi (git-ignored).
faiss-capi: $(FAISS_C) $(FAISS_SQ_STAMP)
$(FAISS_C):
	sh src/build/build_faiss_capi.sh build/faiss-capi
$(FAISS_SQ_STAMP): $(FAISS_C) src/build/build_faiss_sq.sh $(wildcard /usr/lib/*/libfaiss.a)
	sh src/build/build_faiss_sq.sh build/faiss-capi

clean:
	rm -rf build/obj build/asan build/gen build/fuzz build/fuzzobj bin

-include $(OBJS:.o=.d)

# The main job: the demo pipeline into ./aedcurate.db (resumable: run it again).
demo: $(BIN)
	$(BIN) run pipelines/demo.pipeline

# The official YAMNet TFLite and class map, checked by sha256 (needs internet;
# tests use $(AEDCURATE_SHARED)/models/yamnet instead).
models:
	sh src/build/get_models.sh build/models
