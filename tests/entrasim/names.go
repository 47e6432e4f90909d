package entrasim

// Word lists the synthetic directory draws from. Changing an entry changes every tenant built from a seed,
// so treat them as append-only.

var tenantNames = []string{
	"Contoso", "Fabrikam", "Northwind", "Tailspin", "Woodgrove", "Litware", "Adatum", "Wingtip", "Proseware",
	"Lamna", "Alpine Ski House", "Coho Winery", "Relecloud", "Trey Research", "Humongous Insurance",
}

var givenNames = []string{
	"Adele", "Alex", "Allan", "Amelia", "Ben", "Bianca", "Camille", "Chen", "Christie", "Daniel", "Diego",
	"Elena", "Emily", "Enrico", "Fatima", "Felix", "Grady", "Hana", "Henrietta", "Isaiah", "Ivana", "Jamal",
	"Johanna", "Joni", "Kenji", "Lara", "Lee", "Lidia", "Lynne", "Malik", "Megan", "Miriam", "Nestor",
	"Nora", "Olga", "Omar", "Patti", "Pradeep", "Priya", "Quentin", "Rafael", "Ruth", "Sakura", "Sara",
	"Sven", "Tariq", "Teresa", "Uma", "Valentina", "Wei", "Xavier", "Yara", "Yusuf", "Zoe",
}

var surnames = []string{
	"Adams", "Bauer", "Castillo", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ito", "Jensen",
	"Kowalski", "Larsen", "Martinez", "Nakamura", "Novak", "Okafor", "Petrov", "Quinn", "Rossi", "Schmidt",
	"Silva", "Tanaka", "Umar", "Vargas", "Wagner", "Wilber", "Xu", "Yamamoto", "Zhang", "Brown", "Cohen",
	"Diaz", "Evans", "Ferreira", "Gupta", "Haddad", "Ivanova", "Johnson", "Khan", "Lopez", "Meyer",
	"Nguyen", "Olsen", "Patel", "Ramos", "Smith", "Thompson", "Walker",
}

var departments = []string{"Finance", "Engineering", "Sales", "Marketing", "Human Resources", "Legal", "IT", "Operations", "Support"}

var jobTitles = []string{
	"Accountant", "Software Engineer", "Account Executive", "Marketing Manager", "HR Generalist", "Counsel",
	"Systems Administrator", "Operations Analyst", "Support Engineer", "Director", "Product Manager",
}

var externalDomains = []string{"gmail.com", "outlook.com", "partner-co.com", "consultancy.net", "vendor.io", "agency.co.uk"}

// place is a sign-in location with the public address block and autonomous system it is seen from.
type place struct {
	City, State, Country string
	Lat, Lon             float64
	IPA, IPB             byte // first two octets of the address block
	ASN                  int
}

var places = []place{
	{"Redmond", "Washington", "US", 47.68050003051758, -122.12094116210938, 131, 107, 3598},
	{"Seattle", "Washington", "US", 47.60620880126953, -122.33206939697266, 73, 53, 7922},
	{"New York", "New York", "US", 40.71272277832031, -74.00601959228516, 24, 90, 12271},
	{"Chicago", "Illinois", "US", 41.87810134887695, -87.62979888916016, 98, 206, 7018},
	{"Toronto", "Ontario", "CA", 43.653228759765625, -79.38318634033203, 99, 224, 812},
	{"London", "England", "GB", 51.5072021484375, -0.12758000195026398, 81, 2, 2856},
	{"Dublin", "Dublin", "IE", 53.34980010986328, -6.260300159454346, 86, 43, 5466},
	{"Amsterdam", "Noord-Holland", "NL", 52.36759948730469, 4.904139995574951, 145, 53, 1136},
	{"Berlin", "Berlin", "DE", 52.52000045776367, 13.404999732971191, 91, 64, 3320},
	{"Paris", "Ile-de-France", "FR", 48.8566017150879, 2.352220058441162, 90, 85, 3215},
	{"Stockholm", "Stockholms län", "SE", 59.32929992675781, 18.068599700927734, 83, 248, 3301},
	{"Sydney", "New South Wales", "AU", -33.86880111694336, 151.20899963378906, 101, 160, 1221},
	{"Tokyo", "Tokyo", "JP", 35.68949890136719, 139.69200134277344, 126, 74, 2516},
	{"Singapore", "Singapore", "SG", 1.352079987525940, 103.81999969482422, 116, 88, 9506},
	{"São Paulo", "São Paulo", "BR", -23.55049991607666, -46.63330078125, 177, 92, 28573},
	{"Mumbai", "Maharashtra", "IN", 19.07600021362305, 72.87770080566406, 49, 36, 9829},
}

// firstPartyApp is a Microsoft client application users sign in to, with the resource it asks a token for.
type firstPartyApp struct {
	AppID, Name, ResourceID, ResourceName, ClientApp string
}

var firstPartyApps = []firstPartyApp{
	{"c44b4083-3bb0-49c1-b47d-974e53cbdf3c", "Azure Portal", "797f4846-ba00-4fd7-ba43-dac1f8f63013", "Windows Azure Service Management API", "Browser"},
	{"1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams", "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe", "Microsoft Teams Services", "Mobile Apps and Desktop clients"},
	{"d3590ed6-52b3-4102-aeff-aad2292ab01c", "Microsoft Office", "00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online", "Mobile Apps and Desktop clients"},
	{"4765445b-32c6-49b0-83e6-1d93765276ca", "OfficeHome", "00000003-0000-0000-c000-000000000000", "Microsoft Graph", "Browser"},
	{"de8bc8b5-d9f9-48b1-a8ad-b748da725064", "Graph Explorer", "00000003-0000-0000-c000-000000000000", "Microsoft Graph", "Browser"},
	{"04b07795-8ddb-461a-bbee-02f9e1bf7b46", "Microsoft Azure CLI", "797f4846-ba00-4fd7-ba43-dac1f8f63013", "Windows Azure Service Management API", "Mobile Apps and Desktop clients"},
	{"ab9b8c07-8f02-4f72-87fa-80105867a672", "OneDrive SyncEngine", "00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online", "Mobile Apps and Desktop clients"},
	{"27922004-5251-4030-b22d-91ecd9a37ea4", "Outlook Mobile", "00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online", "Mobile Apps and Desktop clients"},
	{"2793995e-0a7d-40d7-bd35-6968ba142197", "My Apps", "0000000c-0000-0000-c000-000000000000", "Microsoft App Access Panel", "Browser"},
	{"29d9ed98-a469-4536-ade2-f981bc1d605e", "Microsoft Authentication Broker", "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9", "Device Registration Service", "Mobile Apps and Desktop clients"},
}

var appNames = []string{
	"HR Portal", "Payroll Sync", "Backup Service", "SIEM Connector", "Jira Cloud", "Salesforce", "ServiceNow",
	"GitHub Enterprise", "Zoom", "Slack", "Workday", "AWS Single-Account Access", "Dropbox Business",
	"DocuSign", "Adobe Creative Cloud", "Box", "Tableau Cloud", "Zscaler", "Expense Reports", "Intranet",
	"Build Pipeline", "Monitoring Agent", "Data Warehouse Loader", "Customer Portal", "Ticket Bot",
}

// provisioningApps are the app names that run outbound user provisioning (SCIM).
var provisioningApps = map[string]bool{
	"Salesforce": true, "ServiceNow": true, "Slack": true, "Zoom": true, "Dropbox Business": true,
	"AWS Single-Account Access": true, "GitHub Enterprise": true, "Box": true, "Workday": true,
}

var managedIdentityNames = []string{
	"func-ingest-prod", "vm-build-01", "logic-alerts", "aks-agentpool", "adf-pipeline", "app-web-prod",
	"func-reports", "vmss-workers", "automation-runbooks", "apim-gateway",
}

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
	"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17531; Pro)",
	"Windows-AzureAD-Authentication-Provider/1.0",
}

// device profiles: operating system, browser, managed/compliant flags and join type.
type deviceProfile struct {
	OS, Browser        string
	Managed, Compliant bool
	TrustType          string
}

var deviceProfiles = []deviceProfile{
	{"Windows10", "Edge 124.0.2478", true, true, "Azure AD joined"},
	{"Windows10", "Chrome 125.0.0", true, false, "Hybrid Azure AD joined"},
	{"MacOs", "Safari 17.4", false, false, ""},
	{"Ios", "Mobile Safari 17.4", true, true, "Azure AD registered"},
	{"Android", "Chrome Mobile 124.0.0", false, false, ""},
	{"Windows10", "Rich Client 4.61.0.0", true, true, "Azure AD joined"},
}

// signInFailure is a sign-in error as Entra reports it.
type signInFailure struct {
	Code           int
	Reason, Detail string
}

var signInFailures = []signInFailure{
	{50126, "Error validating credentials due to invalid username or password.", "The user didn't enter the right credentials. \u00a0It's expected to see some number of these errors in your logs due to users making mistakes."},
	{50074, "Strong Authentication is required.", "The user is being prompted for MFA."},
	{50140, "This error occurred due to 'Keep me signed in' interrupt when the user was signing in.", "This is an expected part of the login flow, where a user is asked if they want to remain signed into this browser to make further logins easier."},
	{53003, "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.", "Access has been blocked by Conditional Access policies."},
	{50053, "Account is locked because user tried to sign in too many times with an incorrect user ID or password.", "The account is locked."},
	{500121, "Authentication failed during strong authentication request.", "The user didn't complete the MFA prompt."},
}

// conditional access policies referenced by sign-ins.
type caPolicy struct{ Name string }

var caPolicies = []caPolicy{
	{"Require MFA for admins"}, {"Block legacy authentication"}, {"Require compliant device for Office 365"},
	{"Medium sign-in risk requires MFA"}, {"Guests require MFA"},
}
