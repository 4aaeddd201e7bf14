#!/bin/sh
# Runs every fuzz target of the module, one after the other.
#
#   internal/fuzz/fuzz.sh [-keep] [-parallel N] [-only REGEX] FUZZTIME
#
# -keep copies the inputs the fuzzer found interesting (kept by Go under
# $GOCACHE/fuzz) into the package's testdata/fuzz/<Target>, so the corpus
# lives in the repository and every later run, fuzzing or not, replays it.
# A failing input is written to testdata/fuzz by Go itself and then runs as
# a regression test in `go test`.
set -e
GO=${GO:-go}
keep=0 parallel="" only="."
while [ $# -gt 1 ]; do
	case "$1" in
	-keep) keep=1; shift ;;
	-parallel) parallel=$2; shift 2 ;;
	-only) only="$2"; shift 2 ;;
	*) break ;;
	esac
done
time=${1:?usage: fuzz.sh [-keep] [-parallel N] [-only REGEX] FUZZTIME}
cache=$($GO env GOCACHE)/fuzz
module=$($GO list -m)
log=${TMPDIR:-/tmp}/yunpan-fuzz.$$.log
trap 'rm -f "$log"' EXIT

# One "path:func FuzzX" line per target. The loop runs in a subshell (the
# pipe): its exit 1 fails the pipeline, which ends the script (set -e).
grep -ro --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' dfs conf store fcgi internal 2>/dev/null | sort |
	while IFS=: read -r f decl; do
		dir=$(dirname "$f")
		t=${decl#func }
		echo "$dir $t" | grep -Eq -- "$only" || continue
		echo "fuzz ./$dir $t ($time)"
		run() { $GO test -run '^$' -fuzz "^$t\$" -fuzztime "$time" ${parallel:+-parallel "$parallel"} "./$dir" </dev/null >"$log" 2>&1; }
		if ! run; then
			# Go's coordinator sometimes gives up on a worker that was only
			# slow (a busy machine) and reports no failing input: run once
			# more then. A real crash has "Failing input" and fails at once.
			if grep -q 'Failing input' "$log"; then cat "$log"; exit 1; fi
			echo "  (no failing input: Go's fuzz coordinator timed out a busy worker; once more)"
			run || { cat "$log"; exit 1; }
		fi
		grep -E '^fuzz: elapsed: .*(new interesting|execs)' "$log" | tail -1 | sed 's/^/  /'
		if [ $keep = 1 ] && [ -d "$cache/$module/$dir/$t" ]; then
			mkdir -p "$dir/testdata/fuzz/$t"
			n=0
			for c in "$cache/$module/$dir/$t"/*; do
				[ -e "$dir/testdata/fuzz/$t/$(basename "$c")" ] && continue
				cp "$c" "$dir/testdata/fuzz/$t/" && n=$((n + 1))
			done
			echo "  kept $n new corpus entries in $dir/testdata/fuzz/$t"
		fi
	done
