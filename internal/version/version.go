// Package version holds the collector's version, stamped at build time with
// -ldflags "-X github.com/entra-di/edi/internal/version.Version=<v>" (see the Makefile and scripts/package.sh).
package version

// Version is the build's version; "dev" for an unstamped build.
var Version = "dev"
