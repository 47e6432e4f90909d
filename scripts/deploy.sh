#!/usr/bin/env bash
# Deploys the Entra ID Data Integration into a resource group with the Azure CLI: the infrastructure
# (infra/main.bicep, compiled by az) and then the code, either a local build (scripts/package.sh's zip, pushed with
# az functionapp deployment source config-zip, which for Flex Consumption is one deploy through /api/publish) or a
# release's package that the template installs itself (packageUri, the same one deploy the portal's button uses).
# The single-tenant integration's client secret comes from a file, goes to ARM in a private parameters file and
# from there only into Key Vault: never on a command line, never printed.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/deploy.sh --resource-group NAME [options]

Deploys infra/main.bicep into the resource group and the code: a local build of the function app package
(scripts/package.sh), or a release's package that the template installs (--release). Run it again to update:
both steps are idempotent.

Options:
  -g, --resource-group NAME   resource group to deploy into
  -l, --location REGION       create the resource group in this region if it does not exist
  -p, --parameters FILE       a parameters file for infra/main.bicep (JSON)
      --param NAME=VALUE      one parameter of infra/main.bicep (repeatable), e.g. --param enableEventHub=true
      --integration-id ID     declare a single-tenant integration in app settings, with:
      --tenant-id ID            its Directory (tenant) ID
      --client-id ID            its Application (client) ID
      --secret-id ID            its Secret ID (printed by scripts/register-app.sh)
      --integration-permissions read-only|read-write
      --client-secret-file FILE its client secret's value, read from FILE (- reads standard input); the
                                deployment stores it in Key Vault as integration-<id>
      --no-secret-access      do not make the signed-in account Key Vault Secrets Officer on the vault
                              (scripts/register-app.sh --key-vault needs it)
      --package ZIP           deploy this package instead of building one
      --release VERSION       install a release's package (e.g. 1.4.0, or latest) with the template's one deploy
                              instead of building one; needs no Go
      --package-uri URL       install the package at URL the same way
      --infra-only            deploy the infrastructure only
      --code-only             deploy the code only, to the app named by --app
      --app NAME              function app name (for --code-only)
      --what-if               preview the infrastructure changes and stop
      --dry-run               print the commands that change something instead of running them
  -h, --help                  show this help

Requires az (signed in with az login; Bicep is compiled by az) and jq; building the package requires go.
Release packages come from https://github.com/entra-di/edi/releases (RELEASES_URL overrides it).
The signed-in account needs Owner, or Contributor plus Role Based Access Control Administrator, on the
resource group: the template assigns roles to the app's managed identity.

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
	log "Try 'scripts/deploy.sh --help'."
	exit 2
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly TEMPLATE=$ROOT/infra/main.bicep
readonly RELEASES_URL=${RELEASES_URL:-https://github.com/entra-di/edi/releases}
readonly PACKAGE_ASSET=entra-data-integration.zip

group=''
location=''
parameters_file=''
params=()
integration_id='' tenant_id='' client_id='' secret_id='' integration_permissions=''
secret_access=true
client_secret_file=''
package=''
package_uri=''
release=''
infra=true
code=true
app=''
what_if=false
dry_run=false

while (($#)); do
	case $1 in
	-g | --resource-group) group=${2:?$1 needs a value} && shift ;;
	-l | --location) location=${2:?$1 needs a value} && shift ;;
	-p | --parameters) parameters_file=${2:?$1 needs a value} && shift ;;
	--param) params+=("${2:?--param needs NAME=VALUE}") && shift ;;
	--integration-id) integration_id=${2:?$1 needs a value} && shift ;;
	--tenant-id) tenant_id=${2:?$1 needs a value} && shift ;;
	--client-id) client_id=${2:?$1 needs a value} && shift ;;
	--secret-id) secret_id=${2:?$1 needs a value} && shift ;;
	--integration-permissions) integration_permissions=${2:?$1 needs a value} && shift ;;
	--client-secret-file) client_secret_file=${2:?$1 needs a value} && shift ;;
	--no-secret-access) secret_access=false ;;
	--package) package=${2:?$1 needs a value} && shift ;;
	--release) release=${2:?$1 needs a value} && shift ;;
	--package-uri) package_uri=${2:?$1 needs a value} && shift ;;
	--infra-only) code=false ;;
	--code-only) infra=false ;;
	--app) app=${2:?$1 needs a value} && shift ;;
	--what-if) what_if=true ;;
	--dry-run) dry_run=true ;;
	-h | --help)
		usage
		exit 0
		;;
	*) usage_error "unknown argument: $1" ;;
	esac
	shift
done

[[ -n $group ]] || usage_error "--resource-group is required"
[[ $infra == true || $code == true ]] || usage_error "--infra-only and --code-only exclude each other"
if [[ $infra == false && -z $app ]]; then
	usage_error "--code-only needs --app NAME"
fi
for p in "${params[@]}"; do
	[[ $p =~ ^[A-Za-z][A-Za-z0-9]*=.* ]] || usage_error "--param wants NAME=VALUE, got: $p"
done
if [[ -n $parameters_file && ! -f $parameters_file ]]; then
	usage_error "parameters file $parameters_file does not exist"
fi
if [[ -n $package && ! -f $package ]]; then
	usage_error "package $package does not exist"
fi
if [[ -n $release ]]; then
	[[ -z $package_uri ]] || usage_error "--release and --package-uri exclude each other"
	if [[ $release == latest ]]; then
		package_uri=$RELEASES_URL/latest/download/$PACKAGE_ASSET
	else
		[[ $release =~ ^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z][0-9A-Za-z.-]*)?$ ]] ||
			usage_error "--release wants a version like 1.4.0 or latest, got: $release"
		package_uri=$RELEASES_URL/download/v${release#v}/$PACKAGE_ASSET
	fi
fi
if [[ -n $package_uri ]]; then
	[[ $package_uri =~ ^https://[^[:space:]]+$ ]] || usage_error "--package-uri must be an https URL"
	[[ -z $package ]] || usage_error "--package and --release/--package-uri exclude each other"
	[[ $infra == true ]] || usage_error "--code-only pushes a local package; to install a release, deploy the template with --release"
fi
guid='^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
if [[ -n $integration_id ]]; then
	[[ $integration_id =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || usage_error "--integration-id must be lowercase letters, digits and inner hyphens"
	[[ $tenant_id =~ $guid && $client_id =~ $guid ]] || usage_error "--integration-id needs --tenant-id and --client-id (GUIDs)"
	[[ -z $secret_id || $secret_id =~ $guid ]] || usage_error "--secret-id must be a GUID"
	params+=("integrationId=$integration_id" "integrationTenantId=$tenant_id" "integrationClientId=$client_id")
	[[ -z $secret_id ]] || params+=("integrationSecretId=$secret_id")
	if [[ -n $integration_permissions ]]; then
		[[ $integration_permissions == read-only || $integration_permissions == read-write ]] ||
			usage_error "--integration-permissions must be read-only or read-write"
		params+=("integrationPermissions=$integration_permissions")
	fi
elif [[ -n $tenant_id$client_id$secret_id$integration_permissions$client_secret_file ]]; then
	usage_error "--tenant-id, --client-id, --secret-id, --integration-permissions and --client-secret-file need --integration-id"
fi
if [[ -n $client_secret_file ]]; then
	[[ $infra == true ]] || usage_error "--client-secret-file needs the template deployment (not --code-only)"
	[[ $client_secret_file == - || -r $client_secret_file ]] || usage_error "cannot read --client-secret-file $client_secret_file"
fi

# change CMD...: runs a command that changes something, or prints it in a dry run.
change() {
	if [[ $dry_run == true ]]; then
		log "dry-run: $(printf '%q ' "$@")"
		return 0
	fi
	"$@"
}

command -v az >/dev/null || die "the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
command -v jq >/dev/null || die "jq is not installed"
account=$(az account show --output json) || die "not signed in: run az login"

outputs='{}'
if [[ $infra == true ]]; then
	# The template installs the code only when told where the package is; a local build is pushed afterwards.
	params+=("packageUri=$package_uri")
	secret_params=''
	if [[ -n $client_secret_file ]]; then
		# The value goes from the file into a parameters file only this user can read, in a directory removed on
		# exit, which az hands to ARM as the secure parameter integrationClientSecret; the template writes it to
		# Key Vault and nowhere else.
		secret_dir=$(mktemp -d)
		chmod 700 "$secret_dir"
		trap 'rm -rf "$secret_dir"' EXIT
		secret_params=$secret_dir/secret.parameters.json
		(
			umask 077
			if [[ $client_secret_file == - ]]; then
				cat >"$secret_dir/secret"
			else
				cat -- "$client_secret_file" >"$secret_dir/secret"
			fi
			jq -n --rawfile secret "$secret_dir/secret" '{
				"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
				contentVersion: "1.0.0.0",
				parameters: {integrationClientSecret: {value: ($secret | rtrimstr("\n") | rtrimstr("\r"))}}
			}' >"$secret_params"
			rm -f "$secret_dir/secret"
		)
		jq -e '.parameters.integrationClientSecret.value | length > 0' "$secret_params" >/dev/null ||
			die "--client-secret-file $client_secret_file is empty"
	fi

	if ! az group show --name "$group" --output none 2>/dev/null; then
		[[ -n $location ]] || die "resource group $group does not exist: pass --location to create it"
		log "creating resource group $group in $location"
		change az group create --name "$group" --location "$location" --output none
	fi

	if [[ $secret_access == true ]]; then
		# The signed-in account becomes Key Vault Secrets Officer, so that scripts/register-app.sh --key-vault
		# can store the integration's client secret.
		user_type=$(jq -r '.user.type' <<<"$account")
		if [[ $user_type == servicePrincipal ]]; then
			officer=$(az ad sp show --id "$(jq -r '.user.name' <<<"$account")" --output json | jq -r '.id')
			params+=("secretsOfficerPrincipalId=$officer" "secretsOfficerPrincipalType=ServicePrincipal")
		else
			officer=$(az ad signed-in-user show --output json | jq -r '.id')
			params+=("secretsOfficerPrincipalId=$officer" "secretsOfficerPrincipalType=User")
		fi
	fi

	args=(--resource-group "$group" --template-file "$TEMPLATE" --parameters)
	[[ -z $parameters_file ]] || args+=("@$parameters_file")
	args+=("${params[@]}")
	[[ -z $secret_params ]] || args+=("@$secret_params")
	if [[ $what_if == true ]]; then
		az deployment group what-if "${args[@]}"
		exit 0
	fi
	name=edi-$(date -u +%Y%m%d%H%M%S)
	log "deploying $TEMPLATE to $group as deployment $name"
	if [[ $dry_run == true ]]; then
		change az deployment group create --name "$name" "${args[@]}" --output json
		outputs='{"functionAppName":"<functionAppName>","functionAppUrl":"<functionAppUrl>","keyVaultName":"<keyVaultName>","statusPageUrl":"<statusPageUrl>","integrationsApiUrl":"<integrationsApiUrl>"}'
	else
		outputs=$(az deployment group create --name "$name" "${args[@]}" --output json |
			jq -c '.properties.outputs | map_values(.value)')
	fi
	app=$(jq -r '.functionAppName' <<<"$outputs")
fi

if [[ -n $package_uri ]]; then
	log "the template installed $package_uri with one deploy"
elif [[ $code == true ]]; then
	if [[ -z $package ]]; then
		if [[ $dry_run == true ]]; then
			package='<package.zip>'
			log "dry-run: $ROOT/scripts/package.sh"
		else
			package=$("$ROOT/scripts/package.sh")
			package=$ROOT/$package
		fi
	fi
	log "deploying $package to function app $app"
	change az functionapp deployment source config-zip --resource-group "$group" --name "$app" --src "$package" --output none
fi

if [[ $infra == true ]]; then
	vault=$(jq -r '.keyVaultName // empty' <<<"$outputs")
	cat <<EOF

Deployed to resource group $group$([[ $dry_run == true ]] && echo " (dry run: nothing changed)")
  Function app:   $app
  Status page:    $(jq -r '.statusPageUrl // empty' <<<"$outputs")?code=<function key>
  API:            $(jq -r '.functionAppUrl // empty' <<<"$outputs")
  Integrations:   $(jq -r '.integrationsApiUrl // empty' <<<"$outputs")
  Key Vault:      $vault
  Storage:        $(jq -r '.storageAccountName // empty' <<<"$outputs") (container $(jq -r '.rawContainerName // "entra-raw"' <<<"$outputs"))
  Function key:   az functionapp keys list --resource-group $group --name $app
EOF
	if [[ -n $client_secret_file ]]; then
		cat <<EOF

The client secret of integration $integration_id is in the vault as integration-$integration_id.
Next: a Global Administrator or Privileged Role Administrator grants admin consent to the app registration.
EOF
	else
		cat <<EOF

Next: store the integration's client secret in the vault and grant admin consent:
  scripts/register-app.sh --key-vault $vault --integration-id <id>
EOF
	fi
	rule=$(jq -r '.eventHubDiagnosticsRuleId // empty' <<<"$outputs")
	if [[ -n $rule ]]; then
		cat <<EOF

Real-time streaming: a Security Administrator of the tenant creates the Entra ID diagnostic setting:
  scripts/diagnostic-setting.sh --rule-id $rule --event-hub $(jq -r '.eventHubName' <<<"$outputs")
EOF
	fi
else
	log "deployed $package to $app"
fi
