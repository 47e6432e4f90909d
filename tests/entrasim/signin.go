package entrasim

import (
	"fmt"
	"time"
)

// Sign-in records, rendered in the beta shape (beta/api/signin-list.md example; every sign-in type, with
// signInEventTypes) or the v1.0 shape (v1.0/api/signin-list.md example; interactive only). Field names,
// nesting and JSON types follow the fixtures in fixtures/graph-docs; the conformance test checks them.

type authStep struct {
	method, detail, result, requirement string
	succeeded                           bool
	offset                              time.Duration
}

type caResult struct {
	id, name, result string
	grant            []string
}

type signInRec struct {
	e                              *event
	eventType                      string
	id                             string
	userID, userName, upn          string
	userType                       string // member | guest ("" for workload identities)
	appID, appName                 string
	resourceID, resourceName       string
	ip                             string
	clientApp, userAgent           string
	correlationID, originalRequest string
	caStatus                       string
	interactive                    bool
	homeTenantID, resourceTenantID string
	crossTenant                    string
	processingMs                   int
	riskLevel, riskState           string
	riskDetail                     string
	riskEvents                     []string
	authRequirement                string
	authProtocol                   string
	incomingTokenType              string
	uniqueTokenID                  string
	signInIdentifier               string
	identifierType                 string
	spID, spName                   string
	credType, credKeyID            string
	msiType, msiResource           string
	errorCode                      int
	failureReason, failureDetail   string
	deviceID, deviceName           string
	device                         deviceProfile
	registered                     bool
	place                          place
	asn                            int
	policies                       []caResult
	steps                          []authStep
	processing                     [][2]string
	namedNetworks                  []string
	methodsUsed                    []string
	reqPolicies                    bool
	sessionPolicy                  bool
}

var spFailures = []signInFailure{
	{7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.", "The client secret is wrong or expired."},
	{7000222, "The provided client secret keys for app are expired.", "Create a new client secret for the app."},
}

// miResources are the resources managed identities ask tokens for.
var miResources = [][2]string{
	{"cfa8b339-82a2-471a-a3c9-0fc0be7a4093", "Azure Key Vault"},
	{"e406a681-f3d4-42a8-90b6-c2b029497af1", "Azure Storage"},
	{"00000003-0000-0000-c000-000000000000", "Microsoft Graph"},
	{"797f4846-ba00-4fd7-ba43-dac1f8f63013", "Windows Azure Service Management API"},
}

func (g *gen) signIn(e *event) *signInRec {
	c := g.cast
	r := newRNG(g.seed, strKey("signin"), e.k0, e.k1)
	s := &signInRec{
		e:                 e,
		eventType:         e.st.def.eventType,
		id:                signInID(e),
		correlationID:     r.guid(),
		homeTenantID:      c.tenantID,
		resourceTenantID:  c.tenantID,
		crossTenant:       "none",
		processingMs:      40 + r.intn(400),
		riskLevel:         "none",
		riskState:         "none",
		riskDetail:        "none",
		authRequirement:   "singleFactorAuthentication",
		authProtocol:      "none",
		incomingTokenType: "none",
		uniqueTokenID:     tokenID(r),
		caStatus:          "notApplied",
		identifierType:    "userPrincipalName",
	}
	s.originalRequest = s.id
	switch s.eventType {
	case "interactiveUser", "nonInteractiveUser":
		s.userSignIn(g, r)
	case "servicePrincipal":
		s.spSignIn(g, r)
	default:
		s.miSignIn(g, r)
	}
	if len(s.policies) > 0 && s.caStatus == "notApplied" {
		for _, p := range s.policies {
			if p.result == "success" {
				s.caStatus = "success"
			}
		}
	}
	return s
}

func (s *signInRec) userSignIn(g *gen, r *rng) {
	c := g.cast
	u := c.users[c.members[r.intn(len(c.members))]]
	s.userID, s.userName, s.upn = u.ID, u.DisplayName, u.UserPrincipalName
	s.signInIdentifier = u.UserPrincipalName
	s.userType = "member"
	if u.UserType == "Guest" {
		s.userType = "guest"
		s.homeTenantID = u.HomeTenantID
		s.crossTenant = "b2bCollaboration"
	}
	s.interactive = s.eventType == "interactiveUser"
	// Mostly first-party apps; one in five is single sign-on to one of the tenant's own apps.
	if r.chance(0.8) || len(c.apps) == 0 {
		a := pick(r, firstPartyApps)
		s.appID, s.appName, s.resourceID, s.resourceName, s.clientApp = a.AppID, a.Name, a.ResourceID, a.ResourceName, a.ClientApp
	} else {
		a := c.apps[r.intn(len(c.apps))]
		s.appID, s.appName, s.resourceID, s.resourceName, s.clientApp = a.AppID, a.DisplayName, a.AppID, a.DisplayName, "Browser"
	}
	s.place = places[u.place]
	if r.chance(0.05) {
		s.place = pick(r, places) // travel, VPN, or an attacker
	}
	s.asn = s.place.ASN
	s.ip = ipFor(s.place, hashOf(strKey(u.ID), uint64(r.intn(3))))
	s.device = deviceProfiles[u.device]
	if r.chance(0.1) {
		s.device = pick(r, deviceProfiles)
	}
	s.registered = s.device.TrustType != ""
	if s.registered {
		s.deviceID = guidFrom(g.seed, strKey("device"), strKey(u.ID), uint64(u.device))
		s.deviceName = fmt.Sprintf("%s-%04X", map[bool]string{true: "LAPTOP", false: "PHONE"}[s.device.OS == "Windows10" || s.device.OS == "MacOs"], hashOf(strKey(u.ID))&0xffff)
	}
	s.userAgent = pick(r, userAgents)
	if s.place.City == places[u.place].City && u.place%3 == 0 {
		s.namedNetworks = []string{"Corporate network"}
	}
	s.processing = [][2]string{{"Legacy TLS (TLS 1.0, 1.1, 3DES)", "False"}, {"Is CAE Token", "False"}}
	if s.interactive {
		s.authProtocol = "none"
		if r.chance(0.15) {
			s.authProtocol = "deviceCode"
			if r.chance(0.5) {
				s.authProtocol = "oAuth2"
			}
		}
		s.identifierType = "userPrincipalName"
		mfa := u.Admin || r.chance(0.5)
		fail := r.chance(0.12)
		pw := authStep{method: "Password", detail: "Password in the cloud", result: "Correct password", requirement: "Primary authentication", succeeded: true}
		s.methodsUsed = []string{"Password"}
		switch {
		case fail:
			f := pick(r, signInFailures)
			s.errorCode, s.failureReason, s.failureDetail = f.Code, f.Reason, f.Detail
			switch f.Code {
			case 50126:
				pw.succeeded, pw.result = false, "Invalid username or password or Invalid on-premise username or password."
				s.methodsUsed = nil
			case 53003:
				s.caStatus = "failure"
			case 50074, 500121:
				s.authRequirement = "multiFactorAuthentication"
			}
			s.steps = []authStep{pw}
			if f.Code == 500121 {
				s.steps = append(s.steps, authStep{method: "Mobile app notification", result: "MFA denied; user declined the authentication", requirement: "Primary authentication", offset: 20 * time.Second})
			}
		case mfa:
			s.authRequirement = "multiFactorAuthentication"
			s.steps = []authStep{pw, {method: "Mobile app notification", result: "MFA successfully completed", requirement: "Primary authentication", succeeded: true, offset: 12 * time.Second}}
			s.methodsUsed = append(s.methodsUsed, "Mobile app notification")
			s.reqPolicies = true
		default:
			s.steps = []authStep{pw}
		}
		if r.chance(0.3) {
			s.sessionPolicy = true
		}
	} else {
		s.clientApp = "Mobile Apps and Desktop clients"
		s.incomingTokenType = "primaryRefreshToken"
		if !s.registered {
			s.incomingTokenType = "none"
		}
		s.steps = []authStep{{method: "Previously satisfied", result: "First factor requirement satisfied by claim in the token", requirement: "Primary authentication", succeeded: true}}
		if r.chance(0.03) {
			f := signInFailures[2] // KMSI interrupt and the like are common non-interactive noise
			if r.chance(0.5) {
				f = signInFailure{70044, "The session has expired or is invalid due to sign-in frequency checks by conditional access.", "The refresh token has expired."}
			}
			s.errorCode, s.failureReason, s.failureDetail = f.Code, f.Reason, f.Detail
		}
	}
	// Risk: a small share of interactive sign-ins carries a risk event.
	if s.interactive && r.chance(0.02) {
		s.riskLevel, s.riskState, s.riskDetail = "medium", "atRisk", "none"
		s.riskEvents = []string{pick(r, []string{"unfamiliarFeatures", "anonymizedIPAddress", "unlikelyTravel"})}
	}
	for i, p := range caPolicies {
		res := caResult{id: c.caIDs[i], name: p.Name, result: "notApplied"}
		switch i {
		case 0:
			if s.authRequirement == "multiFactorAuthentication" {
				res.result, res.grant = "success", []string{"Mfa"}
			}
		case 1:
			res.result = "notApplied"
		case 2:
			if s.device.Compliant {
				res.result, res.grant = "success", []string{"RequireCompliantDevice"}
			}
		case 3:
			res.result = "notEnabled"
		case 4:
			if s.userType == "guest" {
				res.result, res.grant = "success", []string{"Mfa"}
			}
		}
		if s.errorCode == 53003 && i == 2 {
			res.result, res.grant = "failure", []string{"RequireCompliantDevice"}
		}
		s.policies = append(s.policies, res)
	}
}

func (s *signInRec) spSignIn(g *gen, r *rng) {
	c := g.cast
	i := r.intn(len(c.appSPs))
	sp, app := c.appSPs[i], c.apps[i]
	s.appID, s.appName, s.spID, s.spName = sp.AppID, sp.DisplayName, sp.ID, sp.DisplayName
	s.resourceID, s.resourceName = "00000003-0000-0000-c000-000000000000", "Microsoft Graph"
	if r.chance(0.2) {
		s.resourceID, s.resourceName = "797f4846-ba00-4fd7-ba43-dac1f8f63013", "Windows Azure Service Management API"
	}
	s.credType = "certificate"
	if len(app.PasswordCredentials) > 0 {
		s.credType = "clientSecret"
		s.credKeyID = app.PasswordCredentials[0].KeyID
	}
	s.place = places[int(hashOf(strKey(sp.ID))%uint64(len(places)))]
	s.asn = 8075 // Microsoft's network, as workloads in Azure show up
	s.ip = ipFor(place{IPA: 20, IPB: byte(40 + hashOf(strKey(sp.ID))%60)}, r.next())
	s.identifierType = ""
	s.userAgent = ""
	if r.chance(0.02) {
		f := pick(r, spFailures)
		s.errorCode, s.failureReason, s.failureDetail = f.Code, f.Reason, f.Detail
	}
}

func (s *signInRec) miSignIn(g *gen, r *rng) {
	c := g.cast
	if len(c.mis) == 0 {
		s.spSignIn(g, r)
		return
	}
	mi := c.mis[r.intn(len(c.mis))]
	s.appID, s.appName, s.spID, s.spName = mi.AppID, mi.DisplayName, mi.ID, mi.DisplayName
	res := pick(r, miResources)
	s.resourceID, s.resourceName = res[0], res[1]
	s.credType = "managedIdentity"
	s.msiType = "systemAssigned"
	if len(mi.AlternativeNames) > 1 {
		s.msiResource = mi.AlternativeNames[1]
	}
	s.place = places[int(hashOf(strKey(mi.ID))%uint64(len(places)))]
	s.asn = 8075
	s.ip = ""
	s.identifierType = ""
}

// view

func (s *signInRec) get(path string) value {
	switch path {
	case "id":
		return sval(s.id)
	case "createdDateTime":
		return tval(s.e.ts)
	case "userId":
		return sval(s.userID)
	case "userPrincipalName":
		return sval(s.upn)
	case "userDisplayName":
		return sval(s.userName)
	case "appId":
		return sval(s.appID)
	case "appDisplayName":
		return sval(s.appName)
	case "ipAddress":
		return sval(s.ip)
	case "clientAppUsed":
		return sval(s.clientApp)
	case "conditionalAccessStatus":
		return sval(s.caStatus)
	case "correlationId":
		return sval(s.correlationID)
	case "resourceId":
		return sval(s.resourceID)
	case "resourceDisplayName":
		return sval(s.resourceName)
	case "status/errorCode":
		return nval(s.errorCode)
	case "deviceDetail/browser":
		return sval(s.device.Browser)
	case "deviceDetail/operatingSystem":
		return sval(s.device.OS)
	case "location/city":
		return sval(s.place.City)
	case "location/state":
		return sval(s.place.State)
	case "location/countryOrRegion":
		return sval(s.place.Country)
	case "servicePrincipalId":
		return sval(s.spID)
	case "servicePrincipalName":
		return sval(s.spName)
	case "userType":
		return optS(s.userType)
	case "authenticationRequirement":
		return sval(s.authRequirement)
	case "crossTenantAccessType":
		return sval(s.crossTenant)
	case "tokenIssuerType":
		return sval("AzureAD")
	case "riskLevelDuringSignIn", "riskLevelAggregated":
		return sval(s.riskLevel)
	case "riskState":
		return sval(s.riskState)
	case "riskDetail":
		return sval(s.riskDetail)
	case "homeTenantId":
		return sval(s.homeTenantID)
	case "resourceTenantId":
		return sval(s.resourceTenantID)
	}
	return value{}
}

func (s *signInRec) scalars(coll string) []value {
	if coll == "signInEventTypes" {
		return []value{sval(s.eventType)}
	}
	return nil
}

func (s *signInRec) items(string) []view { return nil }

// Rendering.

func (s *signInRec) writeStatus(w *jw) {
	if !w.key("status") {
		return
	}
	w.beginObj()
	w.kint("errorCode", s.errorCode)
	w.kstrOrNull("failureReason", s.failureReason)
	w.kstrOrNull("additionalDetails", s.failureDetail)
	w.endObj()
}

func (s *signInRec) writeLocation(w *jw, v1 bool) {
	if !w.key("location") {
		return
	}
	w.beginObj()
	w.kstr("city", s.place.City)
	w.kstr("state", s.place.State)
	w.kstr("countryOrRegion", s.place.Country)
	w.key("geoCoordinates")
	w.beginObj()
	w.knull("altitude")
	if w.key("latitude") {
		w.float(s.place.Lat)
	}
	if w.key("longitude") {
		w.float(s.place.Lon)
	}
	w.endObj()
	w.endObj()
}

func (s *signInRec) writeDevice(w *jw, v1 bool) {
	if !w.key("deviceDetail") {
		return
	}
	w.beginObj()
	w.kstr("deviceId", s.deviceID)
	switch {
	case s.registered:
		w.kstr("displayName", s.deviceName)
	case v1:
		w.knull("displayName")
	default:
		w.kstr("displayName", "")
	}
	w.kstr("operatingSystem", s.device.OS)
	w.kstr("browser", s.device.Browser)
	if v1 && !s.registered {
		w.knull("isCompliant")
		w.knull("isManaged")
		w.knull("trustType")
	} else {
		w.kbool("isCompliant", s.device.Compliant)
		w.kbool("isManaged", s.device.Managed)
		w.kstr("trustType", s.device.TrustType)
	}
	w.endObj()
}

func (s *signInRec) writePolicies(w *jw) {
	if !w.key("appliedConditionalAccessPolicies") {
		return
	}
	w.beginArr()
	for _, p := range s.policies {
		w.beginObj()
		w.kstr("id", p.id)
		w.kstr("displayName", p.name)
		w.kstrs("enforcedGrantControls", p.grant...)
		w.kstrs("enforcedSessionControls")
		w.kstr("result", p.result)
		w.endObj()
	}
	w.endArr()
}

// writeBeta renders the beta signIn.
func (s *signInRec) writeBeta(w *jw) {
	w.beginObj()
	w.kstr("id", s.id)
	w.ktime("createdDateTime", s.e.ts)
	w.kstr("userDisplayName", s.userName)
	w.kstr("userPrincipalName", s.upn)
	w.kstr("userId", s.userID)
	w.kstr("appId", s.appID)
	w.kstr("appDisplayName", s.appName)
	w.kstr("ipAddress", s.ip)
	w.kstr("clientAppUsed", s.clientApp)
	w.kstr("userAgent", s.userAgent)
	w.kstr("correlationId", s.correlationID)
	w.kstr("conditionalAccessStatus", s.caStatus)
	w.kstr("originalRequestId", s.originalRequest)
	w.kstr("authenticationProtocol", s.authProtocol)
	w.kstr("incomingTokenType", s.incomingTokenType)
	w.kbool("isInteractive", s.interactive)
	w.kstr("homeTenantId", s.homeTenantID)
	w.kstr("homeTenantName", "")
	w.kbool("isTenantRestricted", false)
	w.kstr("tokenIssuerName", "")
	w.kstr("tokenIssuerType", "AzureAD")
	w.kint("processingTimeInMilliseconds", s.processingMs)
	w.kstr("riskDetail", s.riskDetail)
	w.kstr("riskLevelAggregated", s.riskLevel)
	w.kstr("riskLevelDuringSignIn", s.riskLevel)
	w.kstr("riskState", s.riskState)
	// Beta no longer defines riskEventTypes (graph-csdl): riskEventTypes_v2 only.
	w.kstrs("riskEventTypes_v2", s.riskEvents...)
	w.kstr("resourceDisplayName", s.resourceName)
	w.kstr("resourceId", s.resourceID)
	w.kstr("resourceTenantId", s.resourceTenantID)
	// sessionId is a GUID string; the simulator gives a sign-in chain's correlation id as its session.
	w.kstr("sessionId", s.correlationID)
	if w.key("authenticationContextClassReferences") {
		w.beginArr()
		w.endArr()
	}
	w.kstr("servicePrincipalCredentialThumbprint", "")
	w.kstr("federatedCredentialId", "")
	w.kstr("originalTransferMethod", "none")
	w.kstrs("authenticationMethodsUsed", s.methodsUsed...)
	w.kstr("authenticationRequirement", s.authRequirement)
	w.kstr("uniqueTokenIdentifier", s.uniqueTokenID)
	w.kstr("signInIdentifier", s.signInIdentifier)
	// A workload identity's sign-in has no identifier nor user type: null, never an empty enum value.
	w.kstrOrNull("signInIdentifierType", s.identifierType)
	w.kstrs("signInEventTypes", s.eventType)
	w.kstr("servicePrincipalId", s.spID)
	w.kstr("servicePrincipalName", s.spName)
	w.kstr("clientCredentialType", orDefault(s.credType, "none"))
	w.kstr("servicePrincipalCredentialKeyId", s.credKeyID)
	if w.key("managedServiceIdentity") {
		w.beginObj()
		if s.msiType == "" {
			w.kstr("msiType", "none")
			w.knull("associatedResourceId")
		} else {
			w.kstr("msiType", s.msiType)
			w.kstr("associatedResourceId", s.msiResource)
		}
		w.knull("federatedTokenId")
		w.knull("federatedTokenIssuer")
		w.endObj()
	}
	w.kstrOrNull("userType", s.userType)
	w.kbool("flaggedForReview", false)
	// Properties of beta's signIn the simulated tenant has no value for (Global Secure Access, token protection,
	// the Authenticator app, agents, MFA detail): null or empty, as Graph answers a sign-in without them.
	for _, k := range []string{"agent", "appOwnerTenantId", "appTokenProtectionStatus", "authenticationAppDeviceDetails",
		"clientSessionId", "globalSecureAccessIpAddress", "ipAddressFromResourceProvider", "mfaDetail", "privateLinkDetails",
		"resourceServicePrincipalId", "signInTokenProtectionStatus", "tokenProtectionStatusDetails"} {
		w.knull(k)
	}
	for _, k := range []string{"appliedEventListeners", "authenticationAppPolicyEvaluationDetails", "conditionalAccessAudiences"} {
		w.kstrs(k)
	}
	w.kbool("isThroughGlobalSecureAccess", false)
	w.kstrOrNull("azureResourceId", s.msiResource)
	w.kstr("resourceOwnerTenantId", s.resourceTenantID)
	w.kint("autonomousSystemNumber", s.asn)
	w.kstr("crossTenantAccessType", s.crossTenant)
	s.writeStatus(w)
	s.writeDevice(w, false)
	s.writeLocation(w, false)
	s.writePolicies(w)
	if w.key("authenticationProcessingDetails") {
		w.beginArr()
		for _, kv := range s.processing {
			w.beginObj()
			w.kstr("key", kv[0])
			w.kstr("value", kv[1])
			w.endObj()
		}
		w.endArr()
	}
	if w.key("networkLocationDetails") {
		w.beginArr()
		if len(s.namedNetworks) > 0 {
			w.beginObj()
			w.kstr("networkType", "namedNetwork")
			w.kstrs("networkNames", s.namedNetworks...)
			w.endObj()
		}
		w.endArr()
	}
	if w.key("authenticationDetails") {
		w.beginArr()
		for _, st := range s.steps {
			w.beginObj()
			w.ktime("authenticationStepDateTime", s.e.ts+int64(st.offset))
			w.kstr("authenticationMethod", st.method)
			w.kstr("authenticationMethodDetail", st.detail)
			w.kbool("succeeded", st.succeeded)
			w.kstr("authenticationStepResultDetail", st.result)
			w.kstr("authenticationStepRequirement", st.requirement)
			w.endObj()
		}
		w.endArr()
	}
	if w.key("authenticationRequirementPolicies") {
		w.beginArr()
		if s.reqPolicies {
			w.beginObj()
			w.kstr("requirementProvider", "multiConditionalAccess")
			w.kstr("detail", "Conditional Access")
			w.endObj()
		}
		w.endArr()
	}
	if w.key("sessionLifetimePolicies") {
		w.beginArr()
		if s.sessionPolicy {
			w.beginObj()
			w.kstr("expirationRequirement", "rememberMultifactorAuthenticationOnTrustedDevices")
			w.kstr("detail", "Remember MFA")
			w.endObj()
		}
		w.endArr()
	}
	w.endObj()
}

// writeV1 renders the v1.0 signIn.
func (s *signInRec) writeV1(w *jw) {
	w.beginObj()
	w.kstr("id", s.id)
	w.ktime("createdDateTime", s.e.ts)
	w.kstr("userDisplayName", s.userName)
	w.kstr("userPrincipalName", s.upn)
	w.kstr("userId", s.userID)
	w.kstr("appId", s.appID)
	w.kstr("appDisplayName", s.appName)
	w.kstr("ipAddress", s.ip)
	w.kstr("clientAppUsed", s.clientApp)
	w.kstr("correlationId", s.correlationID)
	w.kstr("conditionalAccessStatus", s.caStatus)
	w.kbool("isInteractive", s.interactive)
	w.kstr("riskDetail", s.riskDetail)
	w.kstr("riskLevelAggregated", s.riskLevel)
	w.kstr("riskLevelDuringSignIn", s.riskLevel)
	w.kstr("riskState", s.riskState)
	w.kstrs("riskEventTypes", s.riskEvents...)
	w.kstrs("riskEventTypes_v2", s.riskEvents...)
	w.kstr("resourceDisplayName", s.resourceName)
	w.kstr("resourceId", s.resourceID)
	w.kstr("resourceTenantId", s.resourceTenantID)
	w.kstr("homeTenantId", s.homeTenantID)
	w.kstr("userAgent", s.userAgent)
	w.kstr("servicePrincipalId", s.spID)
	w.kstr("servicePrincipalName", s.spName)
	w.knull("authenticationAppDeviceDetails")
	s.writeStatus(w)
	s.writeDevice(w, true)
	s.writeLocation(w, true)
	s.writePolicies(w)
	w.endObj()
}

// Property lists for $select and schema messages.
var signInBetaProps = []string{
	"id", "createdDateTime", "userDisplayName", "userPrincipalName", "userId", "appId", "appDisplayName",
	"ipAddress", "clientAppUsed", "userAgent", "correlationId", "conditionalAccessStatus", "originalRequestId",
	"authenticationProtocol", "incomingTokenType", "isInteractive", "homeTenantId", "homeTenantName",
	"isTenantRestricted", "tokenIssuerName", "tokenIssuerType", "processingTimeInMilliseconds", "riskDetail",
	"riskLevelAggregated", "riskLevelDuringSignIn", "riskState", "riskEventTypes_v2",
	"resourceDisplayName", "resourceId", "resourceTenantId", "sessionId", "authenticationContextClassReferences",
	"servicePrincipalCredentialThumbprint", "federatedCredentialId", "originalTransferMethod", "authenticationMethodsUsed",
	"authenticationRequirement", "uniqueTokenIdentifier", "signInIdentifier", "signInIdentifierType",
	"signInEventTypes", "servicePrincipalId", "servicePrincipalName", "clientCredentialType",
	"servicePrincipalCredentialKeyId", "managedServiceIdentity", "userType", "flaggedForReview",
	"autonomousSystemNumber", "crossTenantAccessType", "status", "deviceDetail", "location",
	"appliedConditionalAccessPolicies", "authenticationProcessingDetails", "networkLocationDetails",
	"authenticationDetails", "authenticationRequirementPolicies", "sessionLifetimePolicies",
	"agent", "appOwnerTenantId", "appTokenProtectionStatus", "authenticationAppDeviceDetails", "clientSessionId",
	"globalSecureAccessIpAddress", "ipAddressFromResourceProvider", "mfaDetail", "privateLinkDetails",
	"resourceServicePrincipalId", "signInTokenProtectionStatus", "tokenProtectionStatusDetails", "appliedEventListeners",
	"authenticationAppPolicyEvaluationDetails", "conditionalAccessAudiences", "isThroughGlobalSecureAccess",
	"azureResourceId", "resourceOwnerTenantId",
}

var signInV1Props = []string{
	"id", "createdDateTime", "userDisplayName", "userPrincipalName", "userId", "appId", "appDisplayName",
	"ipAddress", "clientAppUsed", "correlationId", "conditionalAccessStatus", "isInteractive", "riskDetail",
	"riskLevelAggregated", "riskLevelDuringSignIn", "riskState", "riskEventTypes", "riskEventTypes_v2",
	"resourceDisplayName", "resourceId", "resourceTenantId", "homeTenantId", "userAgent", "servicePrincipalId",
	"servicePrincipalName", "authenticationAppDeviceDetails", "status", "deviceDetail", "location",
	"appliedConditionalAccessPolicies",
}

func signInSchema(beta bool) *schema {
	s := &schema{typeName: "microsoft.graph.signIn", timeProp: "createdDateTime",
		nested: map[string]string{"status": "microsoft.graph.signInStatus", "devicedetail": "microsoft.graph.deviceDetail",
			"location": "microsoft.graph.signInLocation"}}
	s.knownProps = signInV1Props
	// signIn resource: createdDateTime supports eq, le, ge (docs); gt and lt are used in practice and work.
	s.addProp("createdDateTime", pTime, "eq", "ge", "le", "gt", "lt")
	for _, p := range []string{"id", "userId", "appId", "correlationId", "resourceId", "clientAppUsed", "resourceDisplayName"} {
		s.addProp(p, pString, "eq")
	}
	for _, p := range []string{"userPrincipalName", "userDisplayName", "appDisplayName", "ipAddress",
		"deviceDetail/browser", "deviceDetail/operatingSystem", "location/city", "location/state", "location/countryOrRegion"} {
		s.addProp(p, pString, "eq", "startswith")
	}
	s.addEnum("conditionalAccessStatus", "conditionalAccessStatus", "eq")
	s.addProp("status/errorCode", pInt, "eq", "ne")
	s.addEnum("riskState", "riskState", "eq")
	s.addEnum("riskLevelDuringSignIn", "riskLevel", "eq")
	s.addEnum("riskLevelAggregated", "riskLevel", "eq")
	s.addEnum("riskDetail", "riskDetail", "eq")
	if beta {
		s.knownProps = signInBetaProps
		for _, p := range []string{"servicePrincipalId", "servicePrincipalName", "homeTenantId", "resourceTenantId"} {
			s.addProp(p, pString, "eq")
		}
		s.addEnum("userType", "signInUserType", "eq")
		s.addEnum("authenticationRequirement", "authenticationRequirement", "eq")
		s.addEnum("crossTenantAccessType", "signInAccessType", "eq")
		s.addEnum("tokenIssuerType", "tokenIssuerType", "eq")
		// signInEventTypes supports $filter (eq, ne) inside any() (beta signIn resource).
		s.colls = map[string]*collSpec{s.key("signInEventTypes"): {path: "signInEventTypes", scalar: true, typ: pString, ops: opset("eq", "ne")}}
	}
	return s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
