// Package infra holds the tests of the deployment story: the offline validation of infra/ and scripts/ (through
// tests/infra/infracheck), the deployment and registration scripts run against a fake az, and the package zip.
// They run as part of `make test`, which installs their tools first (`make tools`: npm ci, shellcheck, jq).
package infra
