package entrasim

import (
	"net/http"
)

// GET /v1.0/subscribedSkus lists the tenant's licences (subscribedsku-list.md): one subscribedSku per licence of
// Options.Licences, with the service plans that licence carries. Microsoft's SKU part numbers, SKU ids, service
// plan names and ids are used (public licensing reference lists; the Workload Identities Premium ids are
// unverified). A free tenant has none. Agent ID has no SKU here. Permission: Organization.Read.All,
// Directory.Read.All or LicenseAssignment.Read.All.

type servicePlan struct{ id, name string }

type sku struct {
	id, partNumber string
	plans          []servicePlan
}

var (
	skuPlanP1         = servicePlan{"41781fb2-bc02-4b7c-bd55-b576c07bb09d", "AAD_PREMIUM"}
	skuPlanP2         = servicePlan{"eec0eb4f-6444-4f95-aba0-50c24d67f998", "AAD_PREMIUM_P2"}
	skuPlanIntune     = servicePlan{"c1ec4a95-1f05-45b3-a911-aa3fa01094f5", "INTUNE_A"}
	skuPlanWorkloadID = servicePlan{"84c289f0-efcb-486f-8581-07f44fc9efad", "AAD_WRKLDID_P2"}
	skuP1             = sku{"078d2b04-f1bd-4111-bbd4-b4b1b354cef4", "AAD_PREMIUM", []servicePlan{skuPlanP1}}
	skuP2             = sku{"84a661c4-e949-4bd2-a560-ed7766fcaf2b", "AAD_PREMIUM_P2", []servicePlan{skuPlanP1, skuPlanP2}}
	skuIntune         = sku{"061f9ace-7d42-4136-88ac-31dc755f143f", "INTUNE_A", []servicePlan{skuPlanIntune}}
	skuWorkloadID     = sku{"7dc0e92d-bf15-401d-907e-0884efe7c760", "Workload_Identities_Premium_CN", []servicePlan{skuPlanWorkloadID}}
)

var readOrganization = anyOf("Organization.Read.All", "Directory.Read.All", "LicenseAssignment.Read.All")

func (t *Tenant) buildSKURoutes() {
	for _, version := range []string{"v1.0", "beta"} {
		t.routes = append(t.routes, &route{method: http.MethodGet, version: version, segs: splitPath("subscribedSkus"),
			family: familyDirectory, name: version + "/subscribedSkus", perms: []permission{readOrganization}, serve: t.serveSKUs})
	}
}

// skus are the tenant's subscribed SKUs, from its licences.
func (t *Tenant) skus() []sku {
	var out []sku
	l := t.cfg.lic
	switch {
	case l.p2:
		out = append(out, skuP2)
	case l.p1:
		out = append(out, skuP1)
	}
	if l.intune {
		out = append(out, skuIntune)
	}
	if l.workloadID {
		out = append(out, skuWorkloadID)
	}
	return out
}

func (t *Tenant) serveSKUs(rc *reqCtx) {
	var w jw
	w.beginObj()
	w.kstr("@odata.context", t.contextURL(rc, "subscribedSkus", nil))
	w.key("value")
	w.beginArr()
	for _, s := range t.skus() {
		w.beginObj()
		w.kstr("accountName", t.dir.name)
		w.kstr("accountId", t.dir.tenantID)
		w.kstr("appliesTo", "User")
		w.kstr("capabilityStatus", "Enabled")
		w.kint("consumedUnits", min(t.cfg.Users, 100))
		w.kstr("id", t.dir.tenantID+"_"+s.id)
		w.key("prepaidUnits")
		w.beginObj()
		w.kint("enabled", 100)
		w.kint("suspended", 0)
		w.kint("warning", 0)
		w.kint("lockedOut", 0)
		w.endObj()
		w.key("servicePlans")
		w.beginArr()
		for _, p := range s.plans {
			w.beginObj()
			w.kstr("servicePlanId", p.id)
			w.kstr("servicePlanName", p.name)
			w.kstr("provisioningStatus", "Success")
			w.kstr("appliesTo", "User")
			w.endObj()
		}
		w.endArr()
		w.kstr("skuId", s.id)
		w.kstr("skuPartNumber", s.partNumber)
		w.kstrs("subscriptionIds", guidFrom(uint64(t.cfg.Seed), strKey("subscription"), strKey(s.id)))
		w.endObj()
	}
	w.endArr()
	w.endObj()
	t.writeJSONBody(rc, http.StatusOK, &w)
}
