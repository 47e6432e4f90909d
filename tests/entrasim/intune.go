package entrasim

import (
	"fmt"
	"time"
)

// Intune configuration: device configuration profiles and managed apps, a few of each, as
// intune-deviceconfig-deviceconfiguration.md and intune-apps-mobileapp.md describe them (base properties plus the
// derived type's @odata.type; the derived types' own settings are left out).

const (
	colDeviceConfigs = "deviceConfigurations"
	colMobileApps    = "mobileApps"
)

// intunePermission is an Intune read permission, answered without it as Intune does (reference §4).
func intunePermission(role string) permission {
	return permission{roles: []string{role, role[:len(role)-len("Read.All")] + "ReadWrite.All"}, missing: func() *gerr {
		return &gerr{status: 403, code: "UnknownError", message: fmt.Sprintf(`{"ErrorCode":"Forbidden","Message":"{\r\n  \"_version\": 3,\r\n  \"Message\": \"Application is not authorized to perform this operation. Application must have one of the following scopes: %s, %sReadWrite.All\",\r\n  \"AppName\": \"Microsoft Graph\"\r\n}","Target":null,"Details":null,"InnerError":null,"InstanceAnnotations":[]}`, role, role[:len(role)-len("Read.All")])}
	}}
}

var (
	readDeviceConfigs = intunePermission("DeviceManagementConfiguration.Read.All")
	readMobileApps    = intunePermission("DeviceManagementApps.Read.All")
)

var deviceConfigSeeds = []struct{ typ, name, description string }{
	{"windows10GeneralConfiguration", "Windows 10 baseline", "Password, Defender and SmartScreen settings for corporate PCs"},
	{"windows10EndpointProtectionConfiguration", "BitLocker and firewall", "Disk encryption and firewall for corporate PCs"},
	{"iosGeneralDeviceConfiguration", "iOS restrictions", "Passcode and app store restrictions for iPhones"},
	{"androidWorkProfileGeneralDeviceConfiguration", "Android work profile", "Work profile passcode and data sharing"},
}

var mobileAppSeeds = []struct{ typ, name, publisher string }{
	{"microsoftStoreForBusinessApp", "Company Portal", "Microsoft Corporation"},
	{"win32LobApp", "Contoso VPN client", "Contoso"},
	{"iosStoreApp", "Microsoft Authenticator", "Microsoft Corporation"},
	{"androidStoreApp", "Microsoft Outlook", "Microsoft Corporation"},
	{"webApp", "Contoso intranet", "Contoso"},
}

// populateIntune loads the device configurations and mobile apps (caller holds the store lock).
func (t *Tenant) populateIntune(base time.Time) {
	s, seed := t.store, uint64(t.cfg.Seed)
	cfgs, apps := s.col(colDeviceConfigs, "deviceConfiguration"), s.col(colMobileApps, "mobileApp")
	for i, c := range deviceConfigSeeds {
		id := guidFrom(seed, strKey("device-configuration"), uint64(i))
		created := base.Add(-time.Duration(200-20*i) * 24 * time.Hour)
		s.loadProps(cfgs, id, obj{{"@odata.type", "#microsoft.graph." + c.typ}, {"id", id},
			{"lastModifiedDateTime", created.Add(time.Duration(10+i) * 24 * time.Hour)}, {"createdDateTime", created},
			{"description", c.description}, {"displayName", c.name}, {"version", 2 + i}})
	}
	for i, a := range mobileAppSeeds {
		id := guidFrom(seed, strKey("mobile-app"), uint64(i))
		created := base.Add(-time.Duration(300-30*i) * 24 * time.Hour)
		s.loadProps(apps, id, obj{{"@odata.type", "#microsoft.graph." + a.typ}, {"id", id}, {"displayName", a.name},
			{"description", a.name + " for managed devices"}, {"publisher", a.publisher}, {"largeIcon", nil},
			{"createdDateTime", created}, {"lastModifiedDateTime", created.Add(7 * 24 * time.Hour)}, {"isFeatured", i == 0},
			{"privacyInformationUrl", nil}, {"informationUrl", nil}, {"owner", nil}, {"developer", nil}, {"notes", nil},
			{"publishingState", "published"}})
	}
}
