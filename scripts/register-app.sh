#!/usr/bin/env bash
# The manual path to the integration's app registration, with the Azure CLI as the signed-in admin: the same
# find-or-create as the portal deployment (it runs infra/app-registration/scripts/create-app-registration.sh), then,
# with --key-vault, a client secret written straight into Key Vault, or, with --federated-identity, no secret at all:
# the function app's managed identity as a federated identity credential. It prints the ids an integration needs
# and never the secret value.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/register-app.sh [options]

Finds or creates the app registration "Entra ID Data Integration" in the tenant you are signed in to (az login),
requests its Microsoft Graph application permissions, creates its service principal and, with --key-vault,
creates a client secret and stores it in Key Vault; with --federated-identity it trusts the function app's
user-assigned managed identity instead (secretless: add the integration with "credential": "managed-identity").
Prints the Directory (tenant) ID, the Application (client) ID and the Secret ID; the secret value itself is never
printed.

Options:
  --name NAME            display name of the app registration (default: "Entra ID Data Integration")
  --permissions LEVEL    read-only (default) or read-write (adds what remediation needs)
  --intune yes|no        also request the Intune read permissions (default: no)
  --key-vault NAME       create a client secret and store it in this vault as integration-<ID>
                         (you need Key Vault Secrets Officer on the vault; scripts/deploy.sh grants it)
  --integration-id ID    integration id: lowercase letters, digits, hyphens (default: default)
  --secret-days DAYS     lifetime of the client secret, 1-730 days (default: 180)
  --grant-consent        also grant admin consent (needs Global Administrator or Privileged Role Administrator)
  --multi-tenant         a multi-tenant app registration, for an MSP: each customer tenant grants it admin consent
  --federated-identity PRINCIPAL_ID
                         trust the function app's user-assigned managed identity (its object/principal id, e.g.
                         from `az identity show --query principalId`) as a federated identity credential
  --dry-run              show what would change and change nothing
  -h, --help             show this help

The signed-in account needs Application Administrator or Cloud Application Administrator (or ownership of an
existing registration). Requires az and jq.

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
	log "Try 'scripts/register-app.sh --help'."
	exit 2
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly CREATE_SCRIPT=$ROOT/infra/app-registration/scripts/create-app-registration.sh
readonly PERMISSIONS_FILE=$ROOT/infra/app-registration/permissions.json
GRAPH_URL=${GRAPH_URL:-https://graph.microsoft.com}
readonly US=$'\x1f'

name="Entra ID Data Integration"
permissions=read-only
intune=no
key_vault=''
integration_id=default
secret_days=180
grant_consent=false
dry_run=false
multi_tenant=false
federated_identity=''

while (($#)); do
	case $1 in
	--name) name=${2:?--name needs a value} && shift ;;
	--permissions) permissions=${2:?--permissions needs a value} && shift ;;
	--intune) intune=${2:?--intune needs a value} && shift ;;
	--key-vault) key_vault=${2:?--key-vault needs a value} && shift ;;
	--integration-id) integration_id=${2:?--integration-id needs a value} && shift ;;
	--secret-days) secret_days=${2:?--secret-days needs a value} && shift ;;
	--grant-consent) grant_consent=true ;;
	--multi-tenant) multi_tenant=true ;;
	--federated-identity) federated_identity=${2:?--federated-identity needs a value} && shift ;;
	--dry-run) dry_run=true ;;
	-h | --help)
		usage
		exit 0
		;;
	*) usage_error "unknown argument: $1" ;;
	esac
	shift
done

[[ $permissions == read-only || $permissions == read-write ]] || usage_error "--permissions must be read-only or read-write"
[[ $intune == yes || $intune == no ]] || usage_error "--intune must be yes or no"
[[ $integration_id =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] ||
	usage_error "--integration-id must be 1-63 lowercase letters, digits and inner hyphens"
if [[ ! $secret_days =~ ^[0-9]{1,3}$ ]] || ((secret_days < 1 || secret_days > 730)); then
	usage_error "--secret-days must be a number of days from 1 to 730"
fi
if [[ -n $key_vault && ! $key_vault =~ ^[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]$ ]]; then
	usage_error "--key-vault must be a vault name (3-24 letters, digits and hyphens)"
fi
if [[ -n $federated_identity && ! $federated_identity =~ ^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$ ]]; then
	usage_error "--federated-identity must be the managed identity's object (principal) id, a GUID"
fi
audience=AzureADMyOrg
if [[ $multi_tenant == true ]]; then audience=AzureADMultipleOrgs; fi

command -v az >/dev/null || die "the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
command -v jq >/dev/null || die "jq is not installed"

# The tenant of the signed-in account.
tenant_id=$(az account show --output json | jq -r '.tenantId // empty') || die "not signed in: run az login"
[[ -n $tenant_id ]] || die "not signed in: run az login"

# Permissions: the generated lists from internal/catalog, combined like the templates combine them.
write=false with_intune=false
if [[ $permissions == read-write ]]; then write=true; fi
if [[ $intune == yes ]]; then with_intune=true; fi
selected=$(jq -c --argjson w "$write" --argjson i "$with_intune" \
	'.readOnly + (if $w then .write else [] end) + (if $i then .intune else [] end)' \
	"$PERMISSIONS_FILE")

registration=$(APP_NAME=$name PERMISSIONS=$selected TENANT_ID=$tenant_id GRANT_ADMIN_CONSENT=$grant_consent \
	DRY_RUN=$dry_run GRAPH_URL=$GRAPH_URL SIGN_IN_AUDIENCE=$audience FEDERATED_IDENTITY_PRINCIPAL_ID=$federated_identity \
	bash "$CREATE_SCRIPT")
IFS=$US read -r app_id object_id consent_url consent_granted permission_count < <(jq -r --arg us "$US" \
	'[.appId, .objectId, .adminConsentUrl, (.adminConsentGranted | tostring), (.permissions | length | tostring)] | join($us)' \
	<<<"$registration")

secret_id=''
secret_expires=''
secret_name=integration-$integration_id
if [[ -n $key_vault ]]; then
	if [[ $dry_run == true ]]; then
		log "dry-run: would add a client secret valid for $secret_days days and store it in $key_vault as $secret_name"
	else
		# The secret goes from Graph's response to a private file that only az keyvault reads: never on a command
		# line, never printed. The file and its directory are removed on every exit.
		secret_dir=$(mktemp -d)
		chmod 700 "$secret_dir"
		trap 'rm -rf "$secret_dir"' EXIT
		secret_file=$secret_dir/value
		end=$(jq -rn --argjson days "$secret_days" 'now + $days * 86400 | floor | strftime("%Y-%m-%dT%H:%M:%SZ")')
		label="Entra ID Data Integration ($secret_name, $(date -u +%Y-%m-%d))"
		log "adding a client secret valid until $end"
		body=$(jq -cn --arg name "$label" --arg expiry "$end" '{passwordCredential: {displayName: $name, endDateTime: $expiry}}')
		response=$(az rest --method POST --url "$GRAPH_URL/v1.0/applications/$object_id/addPassword" \
			--headers "Content-Type=application/json" --output json --body "$body")
		IFS=$US read -r secret_id secret_expires < <(printf '%s' "$response" |
			jq -r --arg us "$US" '[.keyId, .endDateTime] | join($us)')
		(
			umask 077
			printf '%s' "$response" | jq -j '.secretText' >"$secret_file"
		)
		unset response
		log "storing it in Key Vault $key_vault as $secret_name"
		if ! az keyvault secret set --vault-name "$key_vault" --name "$secret_name" --file "$secret_file" \
			--encoding utf-8 --expires "$secret_expires" --content-type "client secret of $app_id" \
			--tags "tenantId=$tenant_id" "clientId=$app_id" "secretId=$secret_id" --output none; then
			rm -rf "$secret_dir"
			log "Key Vault refused the secret; removing it from the app registration again"
			az rest --method POST --url "$GRAPH_URL/v1.0/applications/$object_id/removePassword" \
				--headers "Content-Type=application/json" --body "{\"keyId\":\"$secret_id\"}" --output none ||
				log "warning: could not remove secret $secret_id; delete it in the portal (Certificates & secrets)"
			die "could not store the client secret in $key_vault (you need Key Vault Secrets Officer on it)"
		fi
		rm -rf "$secret_dir"
	fi
fi

cat <<EOF

Entra ID Data Integration app registration$([[ $dry_run == true ]] && echo " (dry run: nothing changed)")
  Directory (tenant) ID:     $tenant_id
  Application (client) ID:   $app_id
  Permissions:               $permissions, $permission_count Microsoft Graph application permissions$([[ $intune == yes ]] && echo " incl. Intune")
  Sign-in audience:          $audience
EOF
if [[ -n $federated_identity ]]; then
	cat <<EOF
  Federated credential:      the managed identity $federated_identity (no secret); add integrations with
                             "credential": "managed-identity"
EOF
fi
if [[ -n $secret_id ]]; then
	cat <<EOF
  Secret ID:                 $secret_id
  Secret expires:            $secret_expires
  Key Vault secret:          $key_vault / $secret_name
EOF
fi
if [[ $consent_granted == true ]]; then
	echo "  Admin consent:             granted"
else
	cat <<EOF
  Admin consent:             not granted yet. A Global Administrator or Privileged Role Administrator opens
                             $consent_url
EOF
fi
if [[ -n $secret_id ]]; then
	cat <<EOF

Single-tenant app settings (or pass them to scripts/deploy.sh):
  ENTRA_INTEGRATION_ID=$integration_id
  ENTRA_TENANT_ID=$tenant_id
  ENTRA_CLIENT_ID=$app_id
  ENTRA_CLIENT_SECRET_NAME=$secret_name
  ENTRA_SECRET_ID=$secret_id
  ENTRA_PERMISSIONS=$permissions
EOF
fi
