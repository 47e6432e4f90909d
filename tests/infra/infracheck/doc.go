// Package infracheck validates the deployment files offline, where no Bicep compiler, ARM endpoint or Azure tenant
// is reachable: Bicep syntax (tree-sitter-bicep), Bicep conventions and module contracts, the Bicep/ARM twins (the
// whole product's infra/mainTemplate.json against infra/main.bicep and its modules, declaration by declaration,
// from a translation of the Bicep into the ARM `bicep build` would write; the Marketplace app-registration
// template), the portal forms (evaluated for every combination of their options), secure parameters followed to
// Key Vault, pinned API versions, the single table of role ids, the app settings contract with the handler, JSON
// Schemas (ajv), the Deploy to Azure links and shell scripts (shellcheck). It also generates the files derived from
// internal/catalog (permissions.json and the ARM copies).
//
// Every check takes the tree to check from a Checker, so tests can run it on a temporary copy they broke on purpose
// and prove the check fails.
package infracheck
