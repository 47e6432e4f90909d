#!/usr/bin/env bash
# Builds the assets of a release: the function app package (scripts/package.sh), checked with the rules TestPackageZip
# applies (tests/cmd/checkpackage); the portal pair infra/mainTemplate.json and infra/createUiDefinition.json with the
# package URL pinned to this release, so "Deploy to Azure" installs exactly this version; and SHA256SUMS over all three.
# The README's button opens the latest release's pair (https://github.com/<repo>/releases/latest/download/...).
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/release.sh --version VERSION [options]

Writes the release assets of VERSION into one folder:
  entra-data-integration.zip   the function app package (checked: entries, modes, static linux/amd64 handler
                               carrying VERSION)
  mainTemplate.json            the whole product's ARM template, packageUri pinned to this release's package
  createUiDefinition.json      its portal form
  SHA256SUMS                   sha256sum -c checks the three files
Publish them as the assets of the GitHub release vVERSION, e.g.
  gh release create vVERSION dist/release/VERSION/*

Options:
  --version VERSION   the release, e.g. 1.4.0 or 1.4.0-rc.1 (the tag is vVERSION); required
  --out DIR           folder to write (default: dist/release/VERSION); it must not hold other files
  --repo OWNER/NAME   GitHub repository that publishes the release (default: entra-di/edi)
  --dry-run           print the steps without building or writing anything
  -h, --help          show this help

Requires go and jq. SOURCE_DATE_EPOCH fixes the package's timestamps (default: the last commit's time), so the same
commit gives the same package and checksums.

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
	log "Try 'scripts/release.sh --help'."
	exit 2
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly PACKAGE=entra-data-integration.zip
readonly TEMPLATE=infra/mainTemplate.json
readonly FORM=infra/createUiDefinition.json

version=''
out=''
repo=entra-di/edi
dry_run=false
while (($#)); do
	case $1 in
	--version) version=${2:?--version needs a value} && shift ;;
	--out) out=${2:?--out needs a value} && shift ;;
	--repo) repo=${2:?--repo needs a value} && shift ;;
	--dry-run) dry_run=true ;;
	-h | --help)
		usage
		exit 0
		;;
	*) usage_error "unknown argument: $1" ;;
	esac
	shift
done

[[ -n $version ]] || usage_error "--version is required"
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z][0-9A-Za-z.-]*)?$ ]] ||
	usage_error "--version must look like 1.4.0 or 1.4.0-rc.1, got: $version"
[[ $repo =~ ^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$ ]] || usage_error "--repo must be OWNER/NAME, got: $repo"
out=${out:-$ROOT/dist/release/$version}
[[ $out == /* ]] || out=$PWD/$out
readonly package_uri="https://github.com/$repo/releases/download/v$version/$PACKAGE"

cd "$ROOT"
command -v go >/dev/null || die "go is not installed"
command -v jq >/dev/null || die "jq is not installed"
[[ -f $TEMPLATE && -f $FORM ]] || die "$TEMPLATE or $FORM is missing"
jq -e '.parameters.packageUri.defaultValue | type == "string"' "$TEMPLATE" >/dev/null ||
	die "$TEMPLATE has no packageUri parameter to pin"

if [[ $dry_run == true ]]; then
	log "dry-run: scripts/package.sh --out $out/$PACKAGE --version $version"
	log "dry-run: go run ./tests/cmd/checkpackage -zip $out/$PACKAGE -version $version"
	log "dry-run: write $out/mainTemplate.json from $TEMPLATE with packageUri $package_uri"
	log "dry-run: write $out/createUiDefinition.json from $FORM"
	log "dry-run: write $out/SHA256SUMS"
	exit 0
fi

if [[ -d $out ]] && [[ -n $(ls -A "$out") ]]; then
	die "$out is not empty; remove it or choose another --out"
fi
mkdir -p "$out"

log "building the package of $version"
scripts/package.sh --out "$out/$PACKAGE" --version "$version" >/dev/null
log "checking it"
go run ./tests/cmd/checkpackage -zip "$out/$PACKAGE" -root . -version "$version"

log "writing the portal pair for $package_uri"
jq --indent 2 --arg uri "$package_uri" --arg version "$version" \
	'.parameters.packageUri.defaultValue = $uri | .metadata.version = $version' \
	"$TEMPLATE" >"$out/mainTemplate.json"
jq --indent 2 --arg version "$version" \
	'.parameters.config.basics.description += " Release \($version)."' \
	"$FORM" >"$out/createUiDefinition.json"

(
	cd "$out"
	files=("$PACKAGE" mainTemplate.json createUiDefinition.json)
	if command -v sha256sum >/dev/null; then
		sha256sum "${files[@]}" >SHA256SUMS
	else
		shasum -a 256 "${files[@]}" >SHA256SUMS
	fi
)
log "wrote the release $version to $out:"
sed 's/^/  /' "$out/SHA256SUMS" >&2
printf '%s\n' "$out"
