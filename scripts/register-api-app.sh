#!/usr/bin/env bash
# Finds or creates the app registration that represents the integration's HTTP API for App Service
# Authentication: application ID URI api://<appId>, the app roles of infra/auth/app-roles.json
# (Integration.Admin, Integration.Helpdesk, Integration.Reader) and a service principal that issues tokens only to
# users and applications assigned a role. Its Application (client) ID is main.bicep's authClientId.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/register-api-app.sh [options]

Creates (or updates) the API app registration that App Service Authentication checks callers against, with the
app roles Integration.Admin, Integration.Helpdesk and Integration.Reader. Existing role ids are kept, so role
assignments survive a rerun. Afterwards assign users or groups to the roles (Enterprise applications > the app >
Users and groups) and deploy with: scripts/deploy.sh -g <group> --param authClientId=<Application ID>

Options:
  --name NAME    display name (default: "Entra ID Data Integration API")
  --dry-run      show what would change and change nothing
  -h, --help     show this help

Requires az (az login as Application Administrator or Cloud Application Administrator) and jq.
Exit status: 0 done, 1 failed, 2 wrong usage.
EOF
}

log() { printf '%s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly CREATE_SCRIPT=$ROOT/infra/app-registration/scripts/create-app-registration.sh
readonly ROLES_FILE=$ROOT/infra/auth/app-roles.json
GRAPH_URL=${GRAPH_URL:-https://graph.microsoft.com}

name="Entra ID Data Integration API"
dry_run=false
while (($#)); do
	case $1 in
	--name) name=${2:?--name needs a value} && shift ;;
	--dry-run) dry_run=true ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		log "error: unknown argument: $1"
		log "Try 'scripts/register-api-app.sh --help'."
		exit 2
		;;
	esac
	shift
done

command -v az >/dev/null || die "the Azure CLI (az) is not installed"
command -v jq >/dev/null || die "jq is not installed"

# patch PATH BODY: a Graph PATCH, or its description in a dry run.
patch() {
	if [[ $dry_run == true ]]; then
		log "dry-run: would send PATCH $GRAPH_URL/v1.0$1 $2"
		return 0
	fi
	az rest --method PATCH --url "$GRAPH_URL/v1.0$1" --headers "Content-Type=application/json" --body "$2" --output none
}

new_uuid() {
	if [[ -r /proc/sys/kernel/random/uuid ]]; then
		cat /proc/sys/kernel/random/uuid
	else
		uuidgen | tr '[:upper:]' '[:lower:]'
	fi
}

# The application and its service principal: the same find-or-create as the integration's app, without API
# permissions (an API needs none).
registration=$(APP_NAME=$name PERMISSIONS='[]' DRY_RUN=$dry_run GRAPH_URL=$GRAPH_URL bash "$CREATE_SCRIPT")
app_id=$(jq -r '.appId' <<<"$registration")
object_id=$(jq -r '.objectId' <<<"$registration")
sp_id=$(jq -r '.servicePrincipalId' <<<"$registration")
tenant_id=$(jq -r '.tenantId' <<<"$registration")

current='{"identifierUris":[],"appRoles":[]}'
if [[ $object_id != "(new)" ]]; then
	current=$(az rest --method GET --url "$GRAPH_URL/v1.0/applications/$object_id?\$select=identifierUris,appRoles" --output json)
fi

# Roles: each defined role keeps the id it already has (matched by value), new ones get a new id; roles defined
# by hand on the app stay.
ids='{}'
for value in $(jq -r '.appRoles[].value' "$ROLES_FILE"); do
	id=$(jq -r --arg v "$value" '[.appRoles[]? | select(.value == $v) | .id][0] // empty' <<<"$current")
	ids=$(jq -c --arg v "$value" --arg id "${id:-$(new_uuid)}" '. + {($v): $id}' <<<"$ids")
done
wanted=$(jq -c --argjson ids "$ids" --slurpfile defined "$ROLES_FILE" --arg uri "api://$app_id" '
	($defined[0].appRoles | map(. + {id: $ids[.value], isEnabled: true})) as $roles
	| {
		identifierUris: ((.identifierUris // []) + [$uri] | unique),
		appRoles: ([(.appRoles // [])[] | select(.value as $v | $roles | map(.value) | index($v) | not)] + $roles)
	}' <<<"$current")
same=$(jq -n --argjson a "$current" --argjson b "$wanted" '
	def norm: {identifierUris: (.identifierUris // [] | sort), appRoles: (.appRoles // [] | sort_by(.value))};
	($a | norm) == ($b | norm)')
if [[ $same == true ]]; then
	log "application ID URI and app roles already set"
else
	log "setting the application ID URI api://$app_id and the app roles"
	patch "/applications/$object_id" "$wanted"
fi
# Only users and applications assigned a role get tokens for the API.
patch "/servicePrincipals/$sp_id" '{"appRoleAssignmentRequired":true}'

cat <<EOF

Entra ID Data Integration API app registration$([[ $dry_run == true ]] && echo " (dry run: nothing changed)")
  Directory (tenant) ID:     $tenant_id
  Application (client) ID:   $app_id
  Application ID URI:        api://$app_id
  App roles:                 $(jq -r '[.appRoles[].value] | join(", ")' "$ROLES_FILE")

Next: assign users or groups to the roles, then turn on App Service Authentication:
  scripts/deploy.sh -g <resource group> --param authClientId=$app_id
EOF
