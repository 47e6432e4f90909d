package catalog

import "slices"

// GraphAppID is the application id of Microsoft Graph, the resource every permission here belongs to.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// Permission is a Microsoft Graph application permission (app role).
type Permission struct {
	// Name is the permission's value, e.g. "AuditLog.Read.All".
	Name string
	// ID is the app role id on the Microsoft Graph service principal. Templates resolve roles by Name against the
	// tenant's Graph service principal; the ids are kept for the manual path and cross-checks.
	ID string
	// Intune marks the permissions asked for only when the tenant has an Intune licence.
	Intune bool
	// Write marks the permissions asked for only with read-write (remediation) access.
	Write bool
	// Implies lists the narrower permissions this one includes: an app granted Directory.Read.All may read users,
	// groups and applications without User.Read.All, Group.Read.All or Application.Read.All.
	Implies []string
}

// Permissions lists every application permission the integration can ask for (reference/graph.md §2).
var Permissions = []Permission{
	{Name: "AgentCardManifest.Read.All", ID: "3ee18438-e6e5-4858-8f1c-d7b723b45213"},
	{Name: "AgentInstance.Read.All", ID: "799a4732-85b8-4c67-b048-75f0e88a232b"},
	{Name: "Application.Read.All", ID: "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30"},
	{Name: "AuditLog.Read.All", ID: "b0afded3-3588-46d8-8b3d-9842eff778da"},
	{Name: "DeviceManagementApps.Read.All", ID: "7a6ee1e7-141e-4cec-ae74-d9db155731ff", Intune: true},
	{Name: "DeviceManagementConfiguration.Read.All", ID: "dc377aa6-52d8-4e23-b271-2a7ae04cedf3", Intune: true},
	{Name: "DeviceManagementManagedDevices.Read.All", ID: "2f51be20-0bb4-4fed-bf7b-db946066c75e", Intune: true},
	{Name: "Directory.Read.All", ID: "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
		Implies: []string{"User.Read.All", "Group.Read.All", "GroupMember.Read.All", "Application.Read.All"}},
	{Name: "Group.Read.All", ID: "5b567255-7703-4780-807c-7be8301ae99b", Implies: []string{"GroupMember.Read.All"}},
	{Name: "GroupMember.Read.All", ID: "98830695-27a2-44f7-8c18-0c3ebc9698f6"},
	{Name: "IdentityRiskEvent.Read.All", ID: "6e472fd1-ad78-48da-a0f0-97ab2c6b769e"},
	// IdentityRiskyAgent.Read.All: the application role's id as graphpermissions.merill.net (read from the Graph
	// service principal) and emiliensocchi/azure-tiering give it; 3215c57f-3faa-4295-95c2-6f14a5bc6124 is the
	// delegated scope. Deployment resolves roles by name anyway.
	{Name: "IdentityRiskyAgent.Read.All", ID: "4aadfb66-d49a-414a-a883-d8c240b6fa33"},
	{Name: "IdentityRiskyServicePrincipal.Read.All", ID: "607c7344-0eed-41e5-823a-9695ebe1b7b0"},
	{Name: "IdentityRiskyUser.Read.All", ID: "dc5007c0-2d7d-4c42-879c-2dab87571379"},
	{Name: "MailboxSettings.Read", ID: "40f97065-369a-49f4-947c-6a255697ae91"},
	{Name: "Policy.Read.All", ID: "246dd0d5-5bd0-4def-940b-0421030a5b68"},
	{Name: "Reports.Read.All", ID: "230c1aed-a721-4c5d-9cb4-a90514e508ef"},
	{Name: "Synchronization.Read.All", ID: "5ba43d2f-fa88-4db2-bd1c-a67c5f0fb1ce"},
	{Name: "User.Read.All", ID: "df021288-bdef-4463-88db-98f22de89214"},
	{Name: "UserAuthenticationMethod.Read.All", ID: "38d9df27-64da-44fd-b7c5-a6fbac20248f"},
	{Name: "User.ReadWrite.All", ID: "741f803b-c850-494e-b5df-cde7c675a1ca", Write: true, Implies: []string{"User.Read.All"}},
	{Name: "User.ManageIdentities.All", ID: "c529cfca-c91b-489c-af2b-d92990b66ce6", Write: true},
	{Name: "Directory.ReadWrite.All", ID: "19dbc75e-c2e2-444c-a770-ec69d8559fc7", Write: true,
		Implies: []string{"Directory.Read.All", "User.Read.All", "Group.Read.All", "GroupMember.Read.All", "Application.Read.All"}},
	{Name: "UserAuthenticationMethod.ReadWrite.All", ID: "50483e42-d915-4231-9639-7fdb7fd190e5", Write: true},
}

// Access is the integration's permission level (SPEC §3).
type Access string

// Permission levels.
const (
	ReadOnly  Access = "read-only"
	ReadWrite Access = "read-write"
)

// PermissionSet returns the permissions to ask for: read-only, plus the write permissions for read-write, plus
// the Intune permissions when the tenant has Intune. Order follows Permissions.
func PermissionSet(access Access, intune bool) []Permission {
	var out []Permission
	for _, p := range Permissions {
		if p.Write && access != ReadWrite || p.Intune && !intune {
			continue
		}
		out = append(out, p)
	}
	return out
}

// PermissionByName returns the permission with that value.
func PermissionByName(name string) (Permission, bool) {
	i := slices.IndexFunc(Permissions, func(p Permission) bool { return p.Name == name })
	if i < 0 {
		return Permission{}, false
	}
	return Permissions[i], true
}

// Names returns the values of perms.
func Names(perms []Permission) []string {
	out := make([]string, len(perms))
	for i, p := range perms {
		out[i] = p.Name
	}
	return out
}

// Missing returns the permissions of d that granted lacks, counting what a granted permission implies.
func (d DataType) Missing(granted []string) []string {
	var out []string
	for _, p := range d.Permissions {
		if !Grants(granted, p) {
			out = append(out, p)
		}
	}
	return out
}

// Grants reports whether the granted permissions include p, itself or through one that implies it.
func Grants(granted []string, p string) bool {
	return slices.ContainsFunc(granted, func(g string) bool {
		if g == p {
			return true
		}
		perm, ok := PermissionByName(g)
		return ok && slices.Contains(perm.Implies, p)
	})
}
