// Package e2e runs the real handler binary, built into the deployable layout by hostsim.BuildApp, under the host
// simulator against real Azurite, and checks what a caller of the deployed function app would see.
package e2e
