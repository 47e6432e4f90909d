#!/usr/bin/env bash
# Finds or creates the app registration of the Entra ID Data Integration (single-tenant, or multi-tenant for an
# MSP), sets its Microsoft Graph application permissions (resolved by name from the Graph service principal's
# appRoles), finds or creates its service principal, optionally trusts the function app's user-assigned managed
# identity as a federated identity credential (the secretless option), and writes {appId, objectId,
# servicePrincipalId, tenantId, adminConsentUrl, ...} as JSON to $AZ_SCRIPTS_OUTPUT_PATH (stdout when unset).
#
# It runs in two places with the same inputs:
#   - as a Microsoft.Resources/deploymentScripts (AzureCLI) resource, logged in as the admin's user-assigned
#     identity that holds Application Administrator (infra/app-registration/main.bicep, mainTemplate.json);
#   - on an admin's machine, called by scripts/register-app.sh with the admin's own az login.
# mainTemplate.json carries a copy of this file (make generate); edit this file, never the copy.
#
# Inputs (environment variables):
#   APP_NAME             display name of the app registration (required); an existing one with this name is reused
#   PERMISSIONS          JSON array of Graph application permission names, e.g. ["AuditLog.Read.All"]; [] leaves the
#                        app's API permissions untouched
#   TENANT_ID            directory id (default: from `az account show`)
#   GRANT_ADMIN_CONSENT  true: also grant the permissions (app role assignments); needs Privileged Role
#                        Administrator or Global Administrator - Application Administrator is refused (default false)
#   LOGIN_ENDPOINT       Entra login endpoint for the consent URL (default https://login.microsoftonline.com/)
#   GRAPH_URL            Microsoft Graph endpoint (default https://graph.microsoft.com)
#   SIGN_IN_AUDIENCE     AzureADMyOrg (default, single tenant) or AzureADMultipleOrgs (an MSP's app, consented in each
#                        customer tenant); an existing registration is switched to it
#   FEDERATED_IDENTITY_PRINCIPAL_ID  object (principal) id of the function app's user-assigned managed identity: the
#                        app then trusts that identity's tokens (issuer LOGIN_ENDPOINT/TENANT_ID/v2.0, audience
#                        TOKEN_EXCHANGE_AUDIENCE) as a federated identity credential; empty or "none": none
#   FEDERATED_CREDENTIAL_NAME  name of that credential (default function-app-managed-identity; immutable in Entra)
#   TOKEN_EXCHANGE_AUDIENCE    its audience (default api://AzureADTokenExchange; US Gov and China differ)
#   RETRY_ATTEMPTS, RETRY_DELAY_SECONDS   waiting for directory replication after a create (default 12 x 10 s)
#   DRY_RUN              true: read only; print the writes it would make instead of making them
set -euo pipefail

readonly GRAPH_APP_ID=00000003-0000-0000-c000-000000000000

APP_NAME=${APP_NAME:-}
PERMISSIONS=${PERMISSIONS:-[]}
TENANT_ID=${TENANT_ID:-}
GRANT_ADMIN_CONSENT=${GRANT_ADMIN_CONSENT:-false}
LOGIN_ENDPOINT=${LOGIN_ENDPOINT:-https://login.microsoftonline.com/}
GRAPH_URL=${GRAPH_URL:-https://graph.microsoft.com}
RETRY_ATTEMPTS=${RETRY_ATTEMPTS:-12}
RETRY_DELAY_SECONDS=${RETRY_DELAY_SECONDS:-10}
DRY_RUN=${DRY_RUN:-false}
SIGN_IN_AUDIENCE=${SIGN_IN_AUDIENCE:-AzureADMyOrg}
FEDERATED_IDENTITY_PRINCIPAL_ID=${FEDERATED_IDENTITY_PRINCIPAL_ID:-}
FEDERATED_CREDENTIAL_NAME=${FEDERATED_CREDENTIAL_NAME:-function-app-managed-identity}
TOKEN_EXCHANGE_AUDIENCE=${TOKEN_EXCHANGE_AUDIENCE:-api://AzureADTokenExchange}
if [[ $FEDERATED_IDENTITY_PRINCIPAL_ID == none ]]; then
	FEDERATED_IDENTITY_PRINCIPAL_ID=''
fi

log() { printf '%s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# graph METHOD PATH [BODY]: one Microsoft Graph v1.0 request through `az rest`; prints the response body. In a dry
# run, writes are printed to stderr and answer nothing.
graph() {
	local method=$1 path=$2 body=${3:-}
	if [[ $DRY_RUN == true && $method != GET ]]; then
		log "dry-run: would send $method $GRAPH_URL/v1.0$path $body"
		return 0
	fi
	local args=(rest --method "$method" --url "$GRAPH_URL/v1.0$path" --output json)
	if [[ -n $body ]]; then
		args+=(--headers "Content-Type=application/json" --body "$body")
	fi
	az "${args[@]}"
}

# is_replication_delay FILE: whether the error text in FILE is Entra's answer to an object that was created a
# moment ago and has not reached every replica yet. Graph answers, for a service principal created right after its
# application: 400 "The appId '<id>' of the service principal does not reference a valid application object."
# (NoBackingApplicationObject); for an update right after a create: 404 Request_ResourceNotFound "Resource '<id>'
# does not exist or one of its queried reference-property objects are not present."
is_replication_delay() {
	grep -Eq 'NoBackingApplicationObject|does not reference a valid application object|Request_ResourceNotFound' "$1"
}

# retry_replication CMD...: runs CMD, and again while it fails with a replication delay; stdout passes through.
retry_replication() {
	local attempt=1 errfile status
	errfile=$(mktemp)
	while true; do
		status=0
		"$@" 2>"$errfile" || status=$?
		if ((status == 0)); then
			cat "$errfile" >&2
			rm -f "$errfile"
			return 0
		fi
		if ((attempt >= RETRY_ATTEMPTS)) || ! is_replication_delay "$errfile"; then
			cat "$errfile" >&2
			rm -f "$errfile"
			return "$status"
		fi
		log "waiting ${RETRY_DELAY_SECONDS}s for directory replication (attempt $attempt of $RETRY_ATTEMPTS)"
		sleep "$RETRY_DELAY_SECONDS"
		attempt=$((attempt + 1))
	done
}

# urlencode STRING: percent-encodes everything but unreserved characters (RFC 3986).
urlencode() {
	local s=$1 out='' c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[a-zA-Z0-9.~_-]) out+=$c ;;
		*) out+=$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}

# filter_path COLLECTION PROPERTY VALUE [SELECT]: /collection?$filter=PROPERTY eq 'VALUE' with OData quoting and
# percent-encoding.
filter_path() {
	local collection=$1 property=$2 value=$3 select=${4:-}
	local path
	path="/$collection?\$filter=$(urlencode "$property eq '${value//\'/\'\'}'")"
	if [[ -n $select ]]; then
		path+="&\$select=$select"
	fi
	printf '%s' "$path"
}

# US, the unit separator, joins the fields of a jq result that `IFS=$US read` splits again; unlike a tab it keeps
# empty fields.
readonly US=$'\x1f'

main() {
	command -v az >/dev/null || die "the Azure CLI (az) is not installed"
	command -v jq >/dev/null || die "jq is not installed"
	[[ -n $APP_NAME ]] || die "APP_NAME is required"
	local permission_count
	permission_count=$(jq -e 'if type == "array" and all(.[]; type == "string" and length > 0) then length else null end' \
		<<<"$PERMISSIONS" 2>/dev/null) ||
		die "PERMISSIONS must be a JSON array of permission names, got: $PERMISSIONS"
	[[ $GRANT_ADMIN_CONSENT == true || $GRANT_ADMIN_CONSENT == false ]] ||
		die "GRANT_ADMIN_CONSENT must be true or false"
	[[ $SIGN_IN_AUDIENCE == AzureADMyOrg || $SIGN_IN_AUDIENCE == AzureADMultipleOrgs ]] ||
		die "SIGN_IN_AUDIENCE must be AzureADMyOrg or AzureADMultipleOrgs"
	if [[ -n $FEDERATED_IDENTITY_PRINCIPAL_ID && ! $FEDERATED_IDENTITY_PRINCIPAL_ID =~ ^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$ ]]; then
		die "FEDERATED_IDENTITY_PRINCIPAL_ID must be the managed identity's object (principal) id, a GUID"
	fi
	[[ $FEDERATED_CREDENTIAL_NAME =~ ^[A-Za-z0-9][A-Za-z0-9_-]{2,119}$ ]] ||
		die "FEDERATED_CREDENTIAL_NAME must be 3-120 letters, digits, hyphens and underscores"
	if [[ -z $TENANT_ID ]]; then
		TENANT_ID=$(az account show --output json | jq -r '.tenantId')
	fi

	# 1. The application: found by display name, created when missing (single tenant).
	local found count app app_object_id app_id
	found=$(graph GET "$(filter_path applications displayName "$APP_NAME" id,appId,displayName,signInAudience,requiredResourceAccess)" |
		jq -r --arg us "$US" '[(.value | length | tostring), (.value[0] // {} | tojson)] | join($us)')
	IFS=$US read -r count app <<<"$found"
	case $count in
	0)
		log "creating app registration '$APP_NAME'"
		local body
		body=$(jq -cn --arg name "$APP_NAME" --arg audience "$SIGN_IN_AUDIENCE" '{
			displayName: $name,
			signInAudience: $audience,
			notes: "Entra ID Data Integration: reads sign-in and audit logs and directory data through Microsoft Graph (application permissions, client credentials)."
		}')
		app=$(graph POST /applications "$body")
		if [[ -z $app ]]; then # dry run
			app='{"id":"(new)","appId":"(new)","requiredResourceAccess":[]}'
		fi
		;;
	1) ;;
	*) die "$count app registrations are named '$APP_NAME'; rename or delete the extra ones, or choose another name" ;;
	esac
	local audience
	IFS=$US read -r app_object_id app_id audience < <(jq -r --arg us "$US" '[.id, .appId, (.signInAudience // "")] | join($us)' <<<"$app")
	if ((count == 1)); then
		log "found app registration '$APP_NAME' ($app_id)"
		if [[ -n $audience && $audience != "$SIGN_IN_AUDIENCE" ]]; then
			log "switching its sign-in audience from $audience to $SIGN_IN_AUDIENCE"
			retry_replication graph PATCH "/applications/$app_object_id" "{\"signInAudience\":\"$SIGN_IN_AUDIENCE\"}" >/dev/null
		fi
	fi

	# 2. API permissions: every name resolved to its application (Role) id on this tenant's Graph service principal;
	# Graph's entry of requiredResourceAccess replaced, other APIs' entries kept.
	local plan graph_sp_id missing role_ids patch_body
	# shellcheck disable=SC2016 # a jq program: $want, $app, $graph are jq variables
	plan=$(graph GET "/servicePrincipals(appId='$GRAPH_APP_ID')?\$select=id,appRoles" |
		jq -r --argjson want "$PERMISSIONS" --argjson app "$app" --arg graph "$GRAPH_APP_ID" --arg us "$US" '
			[.appRoles[] | select(.isEnabled != false and ((.allowedMemberTypes // []) | index("Application")))] as $roles
			| [$want[] as $name | ([$roles[] | select(.value == $name)] | first) // {missing: $name}] as $resolved
			| [$resolved[] | select(has("missing")) | .missing] as $missing
			| [$resolved[] | select(has("missing") | not) | .id] as $ids
			| ($app.requiredResourceAccess // []) as $current
			| ([$current[] | select(.resourceAppId != $graph)]
				+ [{resourceAppId: $graph, resourceAccess: [$ids[] | {id: ., type: "Role"}]}]) as $wanted
			| ([$current[] | select(.resourceAppId == $graph)] == [$wanted[] | select(.resourceAppId == $graph)]) as $same
			| [.id, ($missing | join(", ")), ($ids | tojson),
				(if $same or ($want | length) == 0 then "" else ({requiredResourceAccess: $wanted} | tojson) end)]
			| join($us)')
	IFS=$US read -r graph_sp_id missing role_ids patch_body <<<"$plan"
	[[ -z $missing ]] || die "Microsoft Graph has no application permission named: $missing"
	if ((permission_count > 0)); then
		if [[ -z $patch_body ]]; then
			log "API permissions already set ($permission_count Microsoft Graph application permissions)"
		else
			log "setting $permission_count Microsoft Graph application permissions"
			retry_replication graph PATCH "/applications/$app_object_id" "$patch_body" >/dev/null
		fi
	fi

	# 3. The service principal (enterprise application) in this tenant.
	local sp_id=''
	if [[ $app_id != "(new)" ]]; then
		sp_id=$(graph GET "$(filter_path servicePrincipals appId "$app_id" id,appId)" | jq -r '.value[0].id // empty')
	fi
	if [[ -z $sp_id ]]; then
		log "creating the service principal"
		sp_id=$(retry_replication graph POST /servicePrincipals "{\"appId\":\"$app_id\"}" | jq -r '.id // empty')
		[[ -n $sp_id || $DRY_RUN == true ]] || die "Graph created no service principal"
		sp_id=${sp_id:-"(new)"}
	else
		log "found service principal $sp_id"
	fi

	# 4. Admin consent: an app role assignment per permission is the grant. Application Administrator and Cloud
	# Application Administrator cannot grant Microsoft Graph app roles, so this stays a manual step by default.
	local consent=false
	if [[ $GRANT_ADMIN_CONSENT == true ]] && ((permission_count > 0)); then
		local granted='[]' to_grant role_id
		if [[ $sp_id != "(new)" ]]; then
			granted=$(graph GET "/servicePrincipals/$sp_id/appRoleAssignments?\$select=appRoleId,resourceId" |
				jq -c --arg res "$graph_sp_id" '[.value[] | select(.resourceId == $res) | .appRoleId]')
		fi
		to_grant=$(jq -r --argjson granted "$granted" '.[] | select(. as $id | $granted | index($id) | not)' <<<"$role_ids")
		for role_id in $to_grant; do
			retry_replication graph POST "/servicePrincipals/$graph_sp_id/appRoleAssignedTo" \
				"{\"principalId\":\"$sp_id\",\"resourceId\":\"$graph_sp_id\",\"appRoleId\":\"$role_id\"}" >/dev/null ||
				die "granting $role_id was refused: granting Microsoft Graph application permissions needs Privileged Role Administrator or Global Administrator; grant admin consent in the portal instead and deploy with grantAdminConsent=No"
		done
		consent=true
	fi

	# 5. The secretless option: the function app's user-assigned managed identity as a federated identity
	# credential. Its token for the exchange audience is issued by this tenant, for the identity's object id; a
	# multi-tenant app then signs in with it in every customer tenant that consented (reference/credentials.md
	# §5.1). Found by name, created when missing, corrected when it trusts something else.
	local federated=null
	if [[ -n $FEDERATED_IDENTITY_PRINCIPAL_ID ]]; then
		local issuer want existing fic_id same
		issuer="${LOGIN_ENDPOINT%/}/$TENANT_ID/v2.0"
		want=$(jq -cn --arg name "$FEDERATED_CREDENTIAL_NAME" --arg issuer "$issuer" \
			--arg subject "$FEDERATED_IDENTITY_PRINCIPAL_ID" --arg audience "$TOKEN_EXCHANGE_AUDIENCE" \
			'{name: $name, issuer: $issuer, subject: $subject, audiences: [$audience],
			  description: "The Entra ID Data Integration function app signs in with its managed identity (no secret)."}')
		existing=''
		if [[ $app_object_id != "(new)" ]]; then
			existing=$(graph GET "/applications/$app_object_id/federatedIdentityCredentials" |
				jq -c --arg name "$FEDERATED_CREDENTIAL_NAME" '[.value[] | select(.name == $name)] | first // empty')
		fi
		if [[ -z $existing ]]; then
			log "adding federated identity credential '$FEDERATED_CREDENTIAL_NAME' for managed identity $FEDERATED_IDENTITY_PRINCIPAL_ID"
			retry_replication graph POST "/applications/$app_object_id/federatedIdentityCredentials" "$want" >/dev/null
		else
			IFS=$US read -r fic_id same < <(jq -r --argjson want "$want" --arg us "$US" \
				'[.id, ((.issuer == $want.issuer and .subject == $want.subject and .audiences == $want.audiences) | tostring)] | join($us)' <<<"$existing")
			if [[ $same == true ]]; then
				log "found federated identity credential '$FEDERATED_CREDENTIAL_NAME'"
			else
				log "updating federated identity credential '$FEDERATED_CREDENTIAL_NAME' to trust managed identity $FEDERATED_IDENTITY_PRINCIPAL_ID"
				retry_replication graph PATCH "/applications/$app_object_id/federatedIdentityCredentials/$fic_id" \
					"$(jq -c 'del(.name, .description)' <<<"$want")" >/dev/null
			fi
		fi
		federated=$(jq -c '{name, issuer, subject, audiences}' <<<"$want")
	fi

	# 6. Outputs: ids only. No secret is created here; scripts/register-app.sh creates one straight into Key Vault.
	local output
	output=$(jq -n \
		--arg appId "$app_id" --arg objectId "$app_object_id" --arg servicePrincipalId "$sp_id" \
		--arg tenantId "$TENANT_ID" --argjson permissions "$PERMISSIONS" --argjson consent "$consent" \
		--arg signInAudience "$SIGN_IN_AUDIENCE" --argjson federated "$federated" \
		--arg consentUrl "${LOGIN_ENDPOINT%/}/$TENANT_ID/adminconsent?client_id=$app_id" \
		--arg portalUrl "https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/CallAnAPI/appId/$app_id" \
		'{appId: $appId, objectId: $objectId, servicePrincipalId: $servicePrincipalId, tenantId: $tenantId,
		  adminConsentUrl: $consentUrl, apiPermissionsUrl: $portalUrl, permissions: $permissions,
		  adminConsentGranted: $consent, signInAudience: $signInAudience, federatedCredential: $federated}')
	if [[ -n ${AZ_SCRIPTS_OUTPUT_PATH:-} ]]; then
		printf '%s\n' "$output" >"$AZ_SCRIPTS_OUTPUT_PATH"
	else
		printf '%s\n' "$output"
	fi
	if [[ $consent == false ]]; then
		log "next step: an admin grants consent at ${LOGIN_ENDPOINT%/}/$TENANT_ID/adminconsent?client_id=$app_id"
	fi
}

main "$@"
