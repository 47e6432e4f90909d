// Package lake reads the archive as its readers do. Its test collects a simulated tenant into Azurite, copies the
// archive out as `az storage blob download-batch` would, and queries the files with DuckDB (the Go bindings, which
// link a prebuilt DuckDB through cgo) using the query that README.md's "Reading the archive" shows, then compares
// what DuckDB returns with the tenant's ground truth: every record of every log data type once.
//
// Only this test-only package links DuckDB; the handler stays CGO-free.
package lake
