#!/usr/bin/env bash
# Measures the collector against SPEC §10's targets and prints one line per target:
#   target <name> <PASS|FAIL> measured=<value> goal=<value>
# Run it on a quiet machine: figures are taken in one run, ratios within one run.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/bench.sh [--quick] [--dry-run] [--keep DIR]

Runs the benchmarks of tests/bench and prints one line per SPEC target:
  CPU per archived sign-in, raw pipeline vs msgraph-sdk-go typed models (ratio, MB/s per core);
  collection at Graph's reports budget (scaled) with page latency: share of the budget used, share of 429s,
    backfill time over the throttle-limited optimum, records served per record archived;
  the same where another client of the app spends 20 % of the budget: share of what is left that is used, 429s;
  the handler's peak RSS archiving 100k, 1M and 3M sign-ins over 30 days (and whether it is flat);
  the shipped handler's time to ready and its size;
  20 tenants on one handler: the lowest share of a tenant's reports budget used, the share of 429s, the
    handler's peak RSS;
  the directory's initial sync (delta rounds and role snapshots) of a 100k-user, 20k-group tenant at the directory
    family's (scaled) limit: share of the budget used, 429s, peak RSS, and its flatness up to 300k users.
  the Status page's render time with 50 integrations x 30 data types, and the insights' peak heap at 200,000 users;
  compaction of a 30-day archive of 1M sign-ins collected live (--quick: 100k over 7 days; BENCH_COMPACT_SIGNINS
    and BENCH_COMPACT_DAYS override): sign-in blobs per 100k archived sign-ins before and after, at most one blob per closed hour and data type, a DuckDB query over the
    month before vs after (ratio in one run, >= 5x), and the compacted archive as DuckDB reads it equal to the truth;
  StreamEvents (no SPEC target, info lines): records archived per second per core from Event Hub batches, and
    the handler's peak RSS with a batch of maximum size (32 events of 1 MB, and of Entra's 256 KB).

It installs what it needs first (`make tools`: Azurite from the lockfile) and stops at once if it cannot.
A benchmark that fails prints its own error, and its targets fail with that error.

Options:
  --quick     shorter runs and smaller tenants: one day of backfill for the budget; 20k, 200k and 600k sign-ins over
              6 days for memory (the densities of 100k, 1M and 3M over 30 days, so windows of the same size);
              10k streamed records; 3 hours of backlog per tenant for 20 tenants; a 30k- and a 90k-user directory
  --dry-run   print the commands without running them
  --keep DIR  keep the raw benchmark output in DIR
  -h, --help  show this help
EOF
}

quick=false
dry_run=false
keep=''
while (($#)); do
	case $1 in
	--quick) quick=true ;;
	--dry-run) dry_run=true ;;
	--keep) keep=${2:?--keep needs a value} && shift ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "error: unknown argument: $1" >&2
		echo "Try 'scripts/bench.sh --help'." >&2
		exit 2
		;;
	esac
	shift
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# What the benchmarks need, checked before anything runs: Go builds the handler and the benchmarks; Azurite (from the
# lockfile, via npm) is the storage every collection benchmark writes to; make runs the installer.
need() {
	command -v "$1" >/dev/null || {
		echo "error: scripts/bench.sh needs $1: $2" >&2
		exit 1
	}
}
if ! $dry_run; then
	need go "install Go (see go.mod for the version)"
	need make "install make"
	need npm "install Node.js and npm: Azurite, the storage the benchmarks run against, comes from npm"
	echo "installing the tools (make tools)" >&2
	make --no-print-directory tools >&2 || {
		echo "error: 'make tools' failed (above), so Azurite is not installed and the benchmarks cannot run" >&2
		exit 1
	}
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${keep:-$work}
mkdir -p "$out"

run() {
	if $dry_run; then
		printf 'dry-run: %s\n' "$*"
		return 0
	fi
	"$@"
}

if $quick; then
	cpu_time=1s cpu_count=1 budget_days=1 rss_small=20000 rss_large=200000 rss_huge=600000 rss_days=6 stream_records=10000 tenants_hours=3 dir_small=30000 dir_large=90000
	compact_signins=${BENCH_COMPACT_SIGNINS:-100000} compact_days=${BENCH_COMPACT_DAYS:-7}
else
	cpu_time=5s cpu_count=3 budget_days=2 rss_small=100000 rss_large=1000000 rss_huge=3000000 rss_days=30 stream_records=50000 tenants_hours=6 dir_small=100000 dir_large=300000
	compact_signins=${BENCH_COMPACT_SIGNINS:-1000000} compact_days=${BENCH_COMPACT_DAYS:-30}
fi

# metric FILE BENCH UNIT: the median of the named metric over the benchmark's result lines.
metric() {
	awk -v bench="$2" -v unit="$3" '
		$1 ~ "^Benchmark" bench "(-[0-9]+)?$" { for (i = 3; i < NF; i++) if ($(i + 1) == unit) print $i }' "$1" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "NaN"; else print v[int((NR + 1) / 2)] }'
}

# failure FILE: the benchmark run's own error, on one line ("" when it succeeded): the lines a failing benchmark
# logged under its "--- FAIL", else (a build error, a panic, a timeout) the last lines of the output.
failure() {
	[[ -s $1.failed ]] || return 0
	awk '
		/^--- FAIL/ { inside = 1; next }
		inside && /^[ \t]/ { sub(/^[ \t]+/, ""); printf "%s%s", (n++ ? " | " : ""), $0; next }
		inside { inside = 0 }
		END { if (n == 0) exit 1 }' "$1" || tail -n 5 "$1" | tr '\n' ' '
}

# verdict NAME FILE MEASURED GOAL-TEXT CONDITION [SHOWN]: prints the target line; CONDITION is an awk expression on
# m. A figure that is not a number fails its target, with the benchmark's own error when it failed.
failures=0
verdict() {
	local name=$1 file=$2 measured=$3 goal=$4 cond=$5 shown=${6:-$3}
	if awk -v m="$measured" "BEGIN { if (m !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?\$/) exit 1; m += 0; exit !($cond) }"; then
		printf 'target %s PASS measured=%s goal=%s\n' "$name" "$shown" "$goal"
		return
	fi
	failures=$((failures + 1))
	if [[ ! $measured =~ ^-?[0-9.]+([eE][-+]?[0-9]+)?$ ]]; then
		local why
		why=$(failure "$file")
		printf 'target %s FAIL measured=none goal=%s error: %s\n' "$name" "$goal" "${why:-the benchmark reported no such figure (see $file)}"
		return
	fi
	printf 'target %s FAIL measured=%s goal=%s\n' "$name" "$shown" "$goal"
}

bench() { # bench OUTFILE PATTERN BENCHTIME [COUNT] [ENV=VAL...]
	local file=$1 pattern=$2 benchtime=$3 count=${4:-1}
	shift 4 || shift $#
	if $dry_run; then
		printf 'dry-run: env %s go test -run ^$ -bench %s -benchtime %s -count %s ./tests/bench\n' "$*" "$pattern" "$benchtime" "$count"
		return 0
	fi
	rm -f "$file.failed"
	if ! env "$@" go test -run '^$' -bench "$pattern" -benchtime "$benchtime" -count "$count" -timeout 120m ./tests/bench >"$file" 2>&1; then
		echo failed >"$file.failed"
	fi
	grep -E '^(Benchmark|ok|FAIL|---)' "$file" >&2 || true
	if [[ -s $file.failed ]]; then
		echo "error: $pattern failed: $(failure "$file")" >&2
	fi
}

echo "building the package (scripts/package.sh)" >&2
run scripts/package.sh --out "$work/package.zip" >&2

echo "CPU per archived sign-in" >&2
bench "$out/cpu.txt" 'ArchiveSignIns|TypedSignIns|Compression' "$cpu_time" "$cpu_count"
echo "cold start and binary size" >&2
bench "$out/start.txt" 'ColdStart' 1x 1 BENCH_PACKAGE="$work/package.zip"
echo "collection at the reports budget" >&2
bench "$out/budget.txt" 'CollectAtBudget$' 1x 1 BENCH_BUDGET_DAYS="$budget_days"
echo "collection at the reports budget, 20 % of it spent by another client of the app" >&2
bench "$out/shared.txt" 'CollectAtSharedBudget$' 1x 1 BENCH_BUDGET_DAYS="$budget_days"
echo "peak RSS at $rss_small, $rss_large and $rss_huge sign-ins over $rss_days days" >&2
bench "$out/rss-small.txt" 'PeakRSS' 1x 1 BENCH_RSS_SIGNINS="$rss_small" BENCH_RSS_DAYS="$rss_days"
bench "$out/rss-large.txt" 'PeakRSS' 1x 1 BENCH_RSS_SIGNINS="$rss_large" BENCH_RSS_DAYS="$rss_days"
bench "$out/rss-huge.txt" 'PeakRSS' 1x 1 BENCH_RSS_SIGNINS="$rss_huge" BENCH_RSS_DAYS="$rss_days"
echo "the directory's initial sync at $dir_small and $dir_large users (a group per five users)" >&2
bench "$out/dir-small.txt" 'DirectorySync' 1x 1 BENCH_DIR_USERS="$dir_small" BENCH_DIR_GROUPS=$((dir_small / 5))
bench "$out/dir-large.txt" 'DirectorySync' 1x 1 BENCH_DIR_USERS="$dir_large" BENCH_DIR_GROUPS=$((dir_large / 5))
echo "20 tenants on one handler" >&2
bench "$out/tenants.txt" 'ManyTenants' 1x 1 BENCH_TENANTS=20 BENCH_TENANTS_HOURS="$tenants_hours"

# The Status page and the insights: benchmarks that live next to their packages.
pkgbench() { # pkgbench OUTFILE PACKAGE PATTERN BENCHTIME [ENV=VAL...]
	local file=$1
	if $dry_run; then
		printf 'dry-run: env %s go test -run ^$ -bench %s -benchtime %s %s\n' "${*:5}" "$3" "$4" "$2"
		return 0
	fi
	rm -f "$file.failed"
	if ! env "${@:5}" go test -run '^$' -bench "$3" -benchtime "$4" -timeout 240m "$2" >"$file" 2>&1; then
		echo failed >"$file.failed"
	fi
	grep -E '^(Benchmark|ok|FAIL|---)' "$file" >&2 || true
}
echo "Status with 50 integrations x 30 data types; insights of a 200,000-user tenant" >&2
pkgbench "$out/status.txt" ./internal/status 'Render|Build' 10x
pkgbench "$out/insights.txt" ./internal/insights ComputeLargeTenant 1x
echo "compaction: $compact_signins sign-ins over $compact_days days collected live, a DuckDB query of those days before and after" >&2
pkgbench "$out/compact.txt" ./tests/lake 'Compaction' 1x BENCH_COMPACT_SIGNINS="$compact_signins" BENCH_COMPACT_DAYS="$compact_days"
echo "StreamEvents: $stream_records records from Event Hub batches, and a batch of maximum size" >&2
bench "$out/stream.txt" 'StreamThroughput' 1x 1 BENCH_STREAM_RECORDS="$stream_records"
bench "$out/stream-rss.txt" 'StreamMaxBatchRSS' 1x 1 BENCH_STREAM_EVENT_KB=1024
bench "$out/stream-rss-entra.txt" 'StreamMaxBatchRSS' 1x 1 BENCH_STREAM_EVENT_KB=256

if $dry_run; then
	exit 0
fi

raw=$(metric "$out/cpu.txt" ArchiveSignIns ns/record)
typed=$(metric "$out/cpu.txt" TypedSignIns ns/record)
mbs=$(metric "$out/cpu.txt" ArchiveSignIns MB/s)
ratio=$(awk -v r="$raw" -v t="$typed" 'BEGIN { if (r + 0 > 0 && t + 0 > 0) printf "%.1f", t / r; else print "NaN" }')
verdict cpu-per-signin-ratio "$out/cpu.txt" "$ratio" '>=10x' 'm >= 10' "${ratio}x(raw=${raw}ns,typed=${typed}ns,raw=${mbs}MB/s/core)"

used=$(metric "$out/budget.txt" CollectAtBudget %budget)
share429=$(metric "$out/budget.txt" CollectAtBudget %429)
rps=$(metric "$out/budget.txt" CollectAtBudget records/s)
over=$(metric "$out/budget.txt" CollectAtBudget time/optimum)
served=$(metric "$out/budget.txt" CollectAtBudget served/archived)
verdict budget-used "$out/budget.txt" "$used" '>=95%' 'm >= 95' "${used}%"
verdict share-429 "$out/budget.txt" "$share429" '<=1%' 'm <= 1' "${share429}%"
verdict backfill-time-over-optimum "$out/budget.txt" "$over" '<=1.05' 'm <= 1.05' "${over}(records/s=${rps})"
verdict served-per-archived "$out/budget.txt" "$served" '<=1.05' 'm <= 1.05'

avail=$(metric "$out/shared.txt" CollectAtSharedBudget %available)
shared429=$(metric "$out/shared.txt" CollectAtSharedBudget %429)
others=$(metric "$out/shared.txt" CollectAtSharedBudget other-requests)
mine=$(metric "$out/shared.txt" CollectAtSharedBudget requests)
verdict shared-budget-used "$out/shared.txt" "$avail" '>=90%' 'm >= 90' "${avail}%(of the 80% left;requests=${mine},other-client=${others})"
verdict shared-budget-429 "$out/shared.txt" "$shared429" '<=1%' 'm <= 1' "${shared429}%"

small=$(metric "$out/rss-small.txt" PeakRSS MiB-peak-RSS)
large=$(metric "$out/rss-large.txt" PeakRSS MiB-peak-RSS)
huge=$(metric "$out/rss-huge.txt" PeakRSS MiB-peak-RSS)
small_w=$(metric "$out/rss-small.txt" PeakRSS records/window)
large_w=$(metric "$out/rss-large.txt" PeakRSS records/window)
huge_w=$(metric "$out/rss-huge.txt" PeakRSS records/window)
verdict "peak-rss-${rss_large}" "$out/rss-large.txt" "$large" '<=64MiB' 'm <= 64' "${large}MiB"
verdict "peak-rss-${rss_huge}" "$out/rss-huge.txt" "$huge" '<=64MiB' 'm <= 64' "${huge}MiB"
# Flat in the record count: memory follows the window (a day of a stream until its density is known, then about
# 20,000 records), so the growth that matters is between tenants whose windows are not trivially small: the two
# larger ones, judged only when the smaller of them read at least 5,000 records per window (records per window shown;
# the small tenant is printed for comparison).
growth=$(awk -v l="$large" -v h="$huge" 'BEGIN { if (l + 0 > 0 && h + 0 > 0) printf "%.2f", h / l; else print "NaN" }')
rss_file=$out/rss-huge.txt
[[ $large =~ ^[0-9.]+$ ]] || rss_file=$out/rss-large.txt
rss_shown="${growth}x(${small}MiB@${rss_small}/${small_w}rec/window,${large}MiB@${rss_large}/${large_w}rec/window,${huge}MiB@${rss_huge}/${huge_w}rec/window,over ${rss_days}d)"
if awk -v w="$large_w" 'BEGIN { exit !(w ~ /^[0-9.]+$/ && w + 0 < 5000) }'; then
	printf 'target rss-flat SKIP measured=%s goal=<=1.10 reason: the %s-sign-in tenant read only %s records per window, so its memory shows window fill, not flatness\n' \
		"$rss_shown" "$rss_large" "$large_w"
else
	verdict rss-flat "$rss_file" "$growth" '<=1.10' 'm <= 1.10' "$rss_shown"
fi

ready=$(metric "$out/start.txt" ColdStart ms-ready-median)
p95=$(metric "$out/start.txt" ColdStart ms-ready-p95)
idle=$(metric "$out/start.txt" ColdStart MiB-RSS-ready)
size=$(metric "$out/start.txt" ColdStart MiB-binary)
verdict handler-ready "$out/start.txt" "$ready" '<=50ms' 'm <= 50' "${ready}ms(p95=${p95}ms,RSS-when-ready=${idle}MiB)"
verdict binary-size "$out/start.txt" "$size" '<=25MiB' 'm <= 25' "${size}MiB"

render=$(metric "$out/status.txt" 'Render/html-50x30' ms/page)
json=$(metric "$out/status.txt" 'Render/json-50x30' ms/page)
build=$(metric "$out/status.txt" Build ms/report)
verdict status-page-50x30 "$out/status.txt" "$render" '<=250ms' 'm <= 250' "${render}ms(json=${json}ms,report-from-storage=${build}ms)"
heap=$(metric "$out/insights.txt" ComputeLargeTenant MiB-peak-heap)
verdict insights-heap-200k-users "$out/insights.txt" "$heap" '<=48MiB' 'm <= 48' "${heap}MiB"
dir_budget=$(metric "$out/dir-small.txt" DirectorySync %budget)
dir_429=$(metric "$out/dir-small.txt" DirectorySync %429)
dir_rss=$(metric "$out/dir-small.txt" DirectorySync MiB-peak-RSS)
dir_rss_large=$(metric "$out/dir-large.txt" DirectorySync MiB-peak-RSS)
dir_sync=$(metric "$out/dir-small.txt" DirectorySync s-sync)
dir_objects=$(metric "$out/dir-small.txt" DirectorySync objects)
verdict directory-budget-used "$out/dir-small.txt" "$dir_budget" '>=90%' 'm >= 90' "${dir_budget}%(${dir_objects}objects-in-${dir_sync}s)"
verdict directory-share-429 "$out/dir-small.txt" "$dir_429" '<=1%' 'm <= 1' "${dir_429}%"
verdict directory-peak-rss "$out/dir-large.txt" "$dir_rss_large" '<=64MiB' 'm <= 64' "${dir_rss_large}MiB@${dir_large}users"
dir_flat=$(awk -v a="$dir_rss" -v b="$dir_rss_large" 'BEGIN { if (a + 0 > 0 && b ~ /^[0-9.]+$/) printf "%.2f", b / a; else print "NaN" }')
verdict directory-rss-flat "$out/dir-large.txt" "$dir_flat" '<=1.10' 'm <= 1.10' "${dir_flat}x(${dir_rss}MiB@${dir_small},${dir_rss_large}MiB@${dir_large})"

tenant_min=$(metric "$out/tenants.txt" ManyTenants %budget-min)
tenant_noisy=$(metric "$out/tenants.txt" ManyTenants %budget-noisy)
tenant_429=$(metric "$out/tenants.txt" ManyTenants %429-all)
tenant_429_max=$(metric "$out/tenants.txt" ManyTenants %429-max)
tenant_rss=$(metric "$out/tenants.txt" ManyTenants MiB-peak-RSS)
verdict tenants-budget-used-min "$out/tenants.txt" "$tenant_min" '>=90%' 'm >= 90' "${tenant_min}%(noisy=${tenant_noisy}%,peak-RSS=${tenant_rss}MiB)"
verdict tenants-share-429 "$out/tenants.txt" "$tenant_429" '<=1%' 'm <= 1' "${tenant_429}%(worst-tenant=${tenant_429_max}%)"

per_hour=$(metric "$out/compact.txt" Compaction max-blobs/closed-hour)
closed_hours=$(metric "$out/compact.txt" Compaction closed-hours)
blobs_before=$(metric "$out/compact.txt" Compaction blobs/100k-before)
blobs_after=$(metric "$out/compact.txt" Compaction blobs/100k-after)
signins=$(metric "$out/compact.txt" Compaction signins)
verdict compact-blobs-per-hour "$out/compact.txt" "$per_hour" '<=1' 'm <= 1' \
	"${per_hour}(${closed_hours} closed hours;blobs per 100k sign-ins ${blobs_before}->${blobs_after};${signins} sign-ins)"
faster=$(metric "$out/compact.txt" Compaction x-faster)
verdict compact-duckdb-speedup "$out/compact.txt" "$faster" '>=5x' 'm >= 5' \
	"${faster}x(month query $(metric "$out/compact.txt" Compaction s-query-before)s->$(metric "$out/compact.txt" Compaction s-query-after)s;copy+query $(metric "$out/compact.txt" Compaction x-faster-copy+query)x;compaction $(metric "$out/compact.txt" Compaction s-compaction)s)"
missing=$(metric "$out/compact.txt" Compaction missing)
dups=$(metric "$out/compact.txt" Compaction duplicates)
wrong=$(awk -v m="$missing" -v d="$dups" 'BEGIN { if (m ~ /^[0-9.]+$/ && d ~ /^[0-9.]+$/) print m + d; else print "NaN" }')
verdict compact-content "$out/compact.txt" "$wrong" '0' 'm == 0' \
	"missing=${missing},duplicates=${dups}(before compaction: missing=$(metric "$out/compact.txt" Compaction missing-before),duplicates=$(metric "$out/compact.txt" Compaction duplicates-before))"

# Not a target: the figure behind archive.Compression (gzip BestSpeed against the default level).
fast=$(metric "$out/cpu.txt" 'Compression/archive' %size)
default=$(metric "$out/cpu.txt" 'Compression/default' %size)
fast_mbs=$(metric "$out/cpu.txt" 'Compression/archive' MB/s)
default_mbs=$(metric "$out/cpu.txt" 'Compression/default' MB/s)
printf 'info compression archive=%s%%@%sMB/s default=%s%%@%sMB/s (compressed size of the NDJSON)\n' "$fast" "$fast_mbs" "$default" "$default_mbs"

# Not SPEC targets: the real-time path (StreamEvents), beside the Graph path's figures above.
printf 'info stream-records-per-core %s records/cpu-s (%s records/s wall, %s MiB/cpu-s, handler peak RSS %s MiB, %s records)\n' \
	"$(metric "$out/stream.txt" StreamThroughput records/cpu-s)" "$(metric "$out/stream.txt" StreamThroughput records/s)" \
	"$(metric "$out/stream.txt" StreamThroughput MiB/cpu-s)" "$(metric "$out/stream.txt" StreamThroughput MiB-peak-RSS)" \
	"$(metric "$out/stream.txt" StreamThroughput records)"
printf 'info stream-peak-rss-max-batch %sMiB (%s MiB batch of 1 MB events), %sMiB (%s MiB batch of 256 KB events)\n' \
	"$(metric "$out/stream-rss.txt" StreamMaxBatchRSS MiB-peak-RSS)" "$(metric "$out/stream-rss.txt" StreamMaxBatchRSS MiB-batch)" \
	"$(metric "$out/stream-rss-entra.txt" StreamMaxBatchRSS MiB-peak-RSS)" "$(metric "$out/stream-rss-entra.txt" StreamMaxBatchRSS MiB-batch)"

exit $((failures > 0))
