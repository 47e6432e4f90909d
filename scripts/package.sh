#!/usr/bin/env bash
# Builds the deployable zip of the function app (SPEC §1): host.json, the linux/amd64 custom handler `handler`
# (static, CGO off, executable bit set, version stamped) and one folder per function with its function.json, all
# at the zip's root and nothing else. scripts/deploy.sh and `make package` call it.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/package.sh [options]

Builds the handler for linux/amd64 and writes the function app package (a zip) that Flex Consumption runs.

Options:
  --out FILE          zip to write (default: dist/entra-data-integration-<version>.zip)
  --version VERSION   version stamped into the handler (default: git describe --always --dirty, else "dev")
  --dry-run           print the steps without building
  -h, --help          show this help

Environment: SOURCE_DATE_EPOCH fixes the timestamp of every zip entry (default: the last commit's time), so the
same source gives the same zip. Requires go.

Exit status: 0 done, 1 failed, 2 wrong usage.
EOF
}

log() { printf '%s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
usage_error() {
	log "error: $*"
	log "Try 'scripts/package.sh --help'."
	exit 2
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly MODULE=github.com/entra-di/edi

out=''
version=''
dry_run=false
while (($#)); do
	case $1 in
	--out) out=${2:?--out needs a value} && shift ;;
	--version) version=${2:?--version needs a value} && shift ;;
	--dry-run) dry_run=true ;;
	-h | --help)
		usage
		exit 0
		;;
	*) usage_error "unknown argument: $1" ;;
	esac
	shift
done

cd "$ROOT"
command -v go >/dev/null || die "go is not installed"
if [[ -z $version ]]; then
	version=$(git describe --always --dirty 2>/dev/null || echo dev)
fi
[[ $version =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]] || usage_error "--version may hold letters, digits and . _ + - only"
out=${out:-dist/entra-data-integration-$version.zip}
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

functions=()
for dir in functions/*/; do
	[[ -f $dir/function.json ]] || die "$dir has no function.json"
	functions+=("$(basename "$dir")")
done
((${#functions[@]} > 0)) || die "no functions under functions/"

ldflags="-s -w -X $MODULE/internal/version.Version=$version"
if [[ $dry_run == true ]]; then
	log "dry-run: CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags '$ldflags' -o <staging>/handler ./handlers"
	log "dry-run: copy host.json and ${functions[*]} into <staging>"
	log "dry-run: go run ./scripts/mkzip -o $out -mtime $epoch <staging>"
	exit 0
fi

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT

log "building handler $version (linux/amd64)"
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "$ldflags" -o "$staging/handler" ./handlers
chmod 0755 "$staging/handler"
cp host.json "$staging/host.json"
for name in "${functions[@]}"; do
	mkdir "$staging/$name"
	cp "functions/$name/function.json" "$staging/$name/function.json"
done

go run ./scripts/mkzip -o "$out" -mtime "$epoch" "$staging"
if command -v sha256sum >/dev/null; then
	sum=$(sha256sum "$out" | cut -d' ' -f1)
else
	sum=$(shasum -a 256 "$out" | cut -d' ' -f1)
fi
log "wrote $out (${#functions[@]} functions: ${functions[*]}; sha256 $sum)"
printf '%s\n' "$out"
