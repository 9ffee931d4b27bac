#!/bin/bash
# Build the libFuzzer targets (clang, ASan+UBSan) into build-fuzz/ and run each for N seconds; exits non-zero on any finding.
#
# usage: fuzz/run.sh [--build-only | --coverage] [seconds] [target ...]
#   seconds     time per target (default: $FUZZ_SECONDS, else 60)
#   --coverage  instead of fuzzing, replay seeds + saved corpus and print line coverage of src/
#   target      fuzz_codec fuzz_startup fuzz_scram_server fuzz_scram_client fuzz_authfile
#               fuzz_hba fuzz_config (default: all)
# env: FUZZ_BUILD (default build-fuzz), FUZZ_CC (default clang), FUZZ_ARGS (extra libFuzzer flags)
#
# New corpus entries go to $FUZZ_BUILD/corpus/<target> (kept between runs, not committed);
# the committed seeds in fuzz/corpus/<target> are only read. A crash, leak, timeout or
# violated property leaves its input in $FUZZ_BUILD/artifacts/<target>/.
set -u
cd "$(dirname "$0")/.." || exit 2

BUILD=${FUZZ_BUILD:-build-fuzz}
CC=${FUZZ_CC:-clang}
CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -std=c11 -D_GNU_SOURCE -pthread -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
        -Isrc -Ifuzz"
ALL_TARGETS="fuzz_codec fuzz_startup fuzz_scram_server fuzz_scram_client fuzz_authfile fuzz_hba fuzz_config fuzz_classify"

# The src/ files (never main.c or the event loop) and libraries each target links.
CODEC="src/proto/codec.c src/proto/be_msg.c src/proto/femsg.c src/base/iobuf.c"
SCRAM="src/auth/scram.c src/auth/scram_server.c src/auth/scram_client.c src/auth/b64.c"
SECRETS="src/auth/authfile.c src/auth/readfile.c src/auth/secret.c src/auth/md5pw.c $SCRAM"
sources() {
	case "$1" in
	fuzz_codec) echo "$CODEC" ;;
	fuzz_startup) echo "$CODEC src/proto/options.c" ;;
	fuzz_scram_server | fuzz_scram_client) echo "$SCRAM" ;;
	fuzz_authfile) echo "$SECRETS" ;;
	fuzz_hba) echo "src/auth/hba.c src/auth/readfile.c" ;;
	fuzz_classify) echo "src/sql/classify.c src/sql/classify_fast.c src/sql/classify_full.c src/sql/classify_funcs.c src/sql/classify_json.c src/sql/classify_kw.c src/sql/classify_quiet.c src/sql/classify_session.c src/sql/classify_shape.c src/sql/sqllex.c" ;;
	fuzz_config) echo "src/config/config.c src/config/config_table.c src/config/config_show.c src/config/config_source.c src/config/config_entries.c src/config/ryw_store_url.c src/config/tls_ctx.c src/base/log.c src/base/log_syslog.c src/auth/hba.c $SECRETS" ;;
	*) return 1 ;;
	esac
}
libs() {
	case "$1" in
	fuzz_codec | fuzz_startup) echo "" ;;
	fuzz_config) echo "-linih -lssl -lcrypto -lm" ;;
	fuzz_classify) echo "-lpg_query" ;;
	*) echo "-lcrypto" ;;
	esac
}

# Rebuild a target when its binary is missing or older than any source or header.
build() {
	local t=$1 bin="$BUILD/$1" srcs
	srcs="fuzz/$t.c $(sources "$t")" || { echo "unknown target: $t" >&2; return 1; }
	# shellcheck disable=SC2086
	if [ -x "$bin" ] && [ -z "$(find $srcs fuzz/*.h src -name '*.[ch]' -newer "$bin" 2>/dev/null | head -1)" ]; then
		return 0
	fi
	echo "build  $t"
	# shellcheck disable=SC2086,SC2046
	$CC $CFLAGS -o "$bin" $srcs $(libs "$t") || return 1
}

# One "target  execs  exec/s  cov  ft  corpus" line from a libFuzzer log.
summary() {
	local log=$1 t=$2
	awk -v t="$t" '
		/^#[0-9]+/ { for (i = 1; i <= NF; i++) { if ($i == "cov:") cov = $(i+1); if ($i == "ft:") ft = $(i+1);
		                                        if ($i == "corp:") corp = $(i+1); } }
		/stat::number_of_executed_units/ { execs = $2 }
		/stat::average_exec_per_sec/ { eps = $2 }
		END { printf "%-18s %10s %8s %6s %7s %10s\n", t, execs, eps, cov, ft, corp }' "$log"
}

# Run one target for $SECONDS_PER_TARGET; 0 when libFuzzer found nothing.
run() {
	local t=$1 log="$BUILD/logs/$1.log" dict=""
	mkdir -p "$BUILD/corpus/$t" "$BUILD/artifacts/$t" "$BUILD/logs"
	[ -f "fuzz/dict/$t.dict" ] && dict="-dict=fuzz/dict/$t.dict"
	# Files the config and hba targets may name live here; removed even after a crash.
	local shm=/tmp
	[ -w /dev/shm ] && shm=/dev/shm
	local sandbox
	sandbox=$(mktemp -d "$shm/pgrouter-fuzz-run.XXXXXX") || return 2
	# shellcheck disable=SC2086
	FUZZ_SANDBOX_BASE=$sandbox "$BUILD/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
		-rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t/" \
		$dict ${FUZZ_ARGS:-} "$BUILD/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1
	local rc=$?
	rm -rf "$sandbox"
	if [ $rc -ne 0 ]; then
		echo "FAIL   $t (exit $rc): see $log; input saved in $BUILD/artifacts/$t/"
		grep -E 'ERROR: |SUMMARY: |property violated|runtime error' "$log" | head -5 | sed 's/^/       /'
	fi
	return $rc
}

# Replay the seeds and the saved corpus through a source-coverage build and report src/ lines covered.
coverage() {
	local t=$1 bin="$BUILD/cov/$1" srcs
	srcs=$(sources "$t") || return 1
	mkdir -p "$BUILD/cov"
	# shellcheck disable=SC2086,SC2046
	$CC -g -O0 -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping -std=c11 -D_GNU_SOURCE \
		-pthread -Isrc -Ifuzz -o "$bin" "fuzz/$t.c" $srcs $(libs "$t") || return 1
	rm -f "$bin.profraw"
	mkdir -p "$BUILD/corpus/$t"
	LLVM_PROFILE_FILE="$bin.profraw" "$bin" -runs=0 "$BUILD/corpus/$t" "fuzz/corpus/$t" >/dev/null 2>&1
	"$PROFDATA" merge -sparse -o "$bin.profdata" "$bin.profraw" || return 1
	echo "== $t"
	# shellcheck disable=SC2086
	"$LLVMCOV" report "$bin" -instr-profile="$bin.profdata" $srcs | awk 'NR > 2 && !/^-/ {
		printf "   %-26s lines %6s  functions %6s  branches %6s\n", $1, $10, $7, $13 }'
}

main() {
	local build_only=0 cov=0 failed=0 targets=""
	SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
	while [ $# -gt 0 ]; do
		case "$1" in
		--build-only) build_only=1 ;;
		--coverage) cov=1 ;;
		-h | --help) sed -n '2,13p' "$0"; return 0 ;;
		[0-9]*) SECONDS_PER_TARGET=$1 ;;
		*) targets="$targets $1" ;;
		esac
		shift
	done
	targets=${targets:-$ALL_TARGETS}
	command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (Debian: clang, libclang-rt-14-dev)" >&2; return 2; }
	mkdir -p "$BUILD"
	if [ $cov -eq 1 ]; then
		PROFDATA=$(command -v llvm-profdata || command -v llvm-profdata-14)
		LLVMCOV=$(command -v llvm-cov || command -v llvm-cov-14)
		if [ -z "$PROFDATA" ] || [ -z "$LLVMCOV" ]; then
			echo "fuzz: llvm-profdata/llvm-cov not found (Debian: llvm)" >&2
			return 2
		fi
		for t in $targets; do coverage "$t" || return 2; done
		return 0
	fi
	for t in $targets; do
		build "$t" || { echo "fuzz: build of $t failed" >&2; return 2; }
	done
	[ $build_only -eq 1 ] && return 0
	echo "run    ${SECONDS_PER_TARGET}s per target"
	printf "%-18s %10s %8s %6s %7s %10s\n" target execs exec/s cov ft corpus
	for t in $targets; do
		if run "$t"; then summary "$BUILD/logs/$t.log" "$t"; else failed=1; fi
	done
	return $failed
}

main "$@"
