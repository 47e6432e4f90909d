#!/usr/bin/env bash
# Creates (or updates) the Entra ID tenant's diagnostic setting that streams log categories to the event hub that
# StreamEvents reads: the one step of the real-time path that needs a person with the Security Administrator role.
# The resource is microsoft.aadiam/diagnosticSettings at tenant scope (api-version 2017-04-01); the endpoint
# refuses service principals, so this runs as a signed-in user (reference/eventhub.md §1.2).
set -euo pipefail

# Categories with a Graph twin: what the Graph collector also reads.
readonly DEFAULT_CATEGORIES=SignInLogs,NonInteractiveUserSignInLogs,ServicePrincipalSignInLogs,ManagedIdentitySignInLogs,AuditLogs,ProvisioningLogs,RiskyUsers,UserRiskEvents,RiskyServicePrincipals,ServicePrincipalRiskEvents
# Every category Microsoft documents for Entra diagnostic settings (reference/eventhub.md §1.1).
readonly ALL_CATEGORIES=$DEFAULT_CATEGORIES,MicrosoftServicePrincipalSignInLogs,ADFSSignInLogs,MicrosoftGraphActivityLogs,EnrichedOffice365AuditLogs,NetworkAccessTrafficLogs,NetworkAccessConnectionEvents,NetworkAccessAlerts,RemoteNetworkHealthLogs,NetworkAccessGenerativeAIInsights,B2CRequestLogs
readonly API=https://management.azure.com/providers/microsoft.aadiam/diagnosticSettings
readonly API_VERSION=2017-04-01

usage() {
	cat <<EOF
Usage: scripts/diagnostic-setting.sh --rule-id ID --event-hub NAME [options]

Creates or updates the tenant's Entra ID diagnostic setting that streams log categories to the event hub of the
deployment (scripts/deploy.sh --param enableEventHub=true prints both values). Run it signed in to the Azure CLI
(az login) as a user with the Security Administrator (or Global Administrator) role in the tenant, and with the
listKeys right on the rule (Owner or Contributor on the Event Hubs namespace); the namespace's subscription must
belong to the same tenant. Data arrives in the event hub within about 90 minutes.

Options:
      --rule-id ID        the namespace's shared access rule for the setting (deployment output
                          eventHubDiagnosticsRuleId: .../Microsoft.EventHub/namespaces/NS/authorizationRules/RULE)
      --event-hub NAME    the event hub (deployment output eventHubName)
      --name NAME         name of the diagnostic setting (default: edi-stream)
      --categories LIST   comma-separated log categories (default: the ten with a Graph twin:
                          ${DEFAULT_CATEGORIES//,/, })
      --all-categories    every documented category, Global Secure Access, AD FS and Graph activity logs
                          included (a category whose feature the tenant lacks just produces no data)
      --dry-run           print the request instead of sending it
  -h, --help              show this help

A setting of that name that also sends to a Log Analytics workspace, a storage account or a partner is left
alone: pick another --name. Entra ID P1 or P2 is needed for diagnostic settings.

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
	log "Try 'scripts/diagnostic-setting.sh --help'."
	exit 2
}

rule_id=''
event_hub=''
name=edi-stream
categories=$DEFAULT_CATEGORIES
dry_run=false

while (($#)); do
	case $1 in
	--rule-id) rule_id=${2:?$1 needs a value} && shift ;;
	--event-hub) event_hub=${2:?$1 needs a value} && shift ;;
	--name) name=${2:?$1 needs a value} && shift ;;
	--categories) categories=${2:?$1 needs a value} && shift ;;
	--all-categories) categories=$ALL_CATEGORIES ;;
	--dry-run) dry_run=true ;;
	-h | --help)
		usage
		exit 0
		;;
	*) usage_error "unknown argument: $1" ;;
	esac
	shift
done

[[ -n $rule_id ]] || usage_error "--rule-id is required (the deployment output eventHubDiagnosticsRuleId)"
[[ -n $event_hub ]] || usage_error "--event-hub is required (the deployment output eventHubName)"
rule_pattern='^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[^/]+/providers/Microsoft\.EventHub/namespaces/[^/]+/authorizationRules/[^/]+$'
shopt -s nocasematch
[[ $rule_id =~ $rule_pattern ]] || usage_error "--rule-id is not an Event Hubs namespace authorization rule id: $rule_id"
shopt -u nocasematch
[[ $event_hub =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$ ]] || usage_error "--event-hub is not an event hub name: $event_hub"
[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$ ]] || usage_error "--name must be letters, digits, '-' and '_': $name"
IFS=, read -r -a category_list <<<"$categories"
((${#category_list[@]} > 0)) || usage_error "--categories is empty"
for c in "${category_list[@]}"; do
	[[ $c =~ ^[A-Za-z][A-Za-z0-9]*$ ]] || usage_error "not a log category: '$c'"
	[[ ,$ALL_CATEGORIES, == *",$c,"* ]] || log "warning: $c is not a category Microsoft documents for Entra ID; sending it anyway"
done

command -v az >/dev/null || die "the Azure CLI (az) is not installed: https://learn.microsoft.com/cli/azure/install-azure-cli"
command -v jq >/dev/null || die "jq is not installed"
account=$(az account show --output json) || die "not signed in: run az login"
if [[ $(jq -r '.user.type' <<<"$account") != user ]]; then
	die "signed in as a service principal: the microsoft.aadiam diagnostic settings endpoint answers 403 to app tokens; sign in as a Security Administrator with az login"
fi
log "tenant $(jq -r '.tenantId' <<<"$account"), signed in as $(jq -r '.user.name' <<<"$account")"

url="$API/$name?api-version=$API_VERSION"
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
if existing=$(az rest --method GET --url "$url" --output json 2>"$errors"); then
	:
elif grep -q -e ResourceNotFound -e 'Not Found' "$errors"; then
	existing=''
else
	cat "$errors" >&2
	die "cannot read diagnostic setting $name: the signed-in user needs the Security Administrator role"
fi
if [[ -n $existing ]]; then
	others=$(jq -r '.properties | [.workspaceId, .storageAccountId, .serviceBusRuleId, .marketplacePartnerId] | map(select(. != null and . != "")) | join(", ")' <<<"$existing")
	[[ -z $others ]] || die "diagnostic setting $name also sends to $others; choose another --name for the event hub"
	log "diagnostic setting $name exists (categories: $(jq -r '[.properties.logs[]? | select(.enabled) | .category] | join(", ")' <<<"$existing")); replacing it"
fi

body=$(jq -cn --arg rule "$rule_id" --arg hub "$event_hub" --arg cats "$categories" \
	'{properties: {eventHubAuthorizationRuleId: $rule, eventHubName: $hub,
		logs: ($cats | split(",") | map({category: ., enabled: true}))}}')

if [[ $dry_run == true ]]; then
	log "dry-run: az rest --method PUT --url $url --body <below>"
	jq . <<<"$body"
	exit 0
fi
if ! result=$(az rest --method PUT --url "$url" --headers Content-Type=application/json --body "$body" --output json); then
	die "creating diagnostic setting $name failed: the user needs the Security Administrator role, and the listKeys right on the rule (LinkedAuthorizationFailed otherwise)"
fi
log "diagnostic setting $name streams ${#category_list[@]} categories to event hub $event_hub; data arrives within about 90 minutes"
jq '{name, categories: [.properties.logs[]? | select(.enabled) | .category], eventHubName: .properties.eventHubName}' <<<"$result"
