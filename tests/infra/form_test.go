package infra

import (
	"reflect"
	"testing"

	"github.com/entra-di/edi/tests/infra/infracheck"
)

func productForm(t *testing.T) *infracheck.Form {
	t.Helper()
	form, errs := repoChecker(t).LoadForm(infracheck.ProductUIDefinitionPath)
	if len(errs) > 0 || form == nil {
		t.Fatalf("loading the form: %v", errs)
	}
	return form
}

// TestProductFormScenarios fills the portal form like a user and checks the exact template parameters it hands the
// deployment: an integration now or later (later clears everything typed before, the secret included), App
// Service Authentication on or off, streaming on or off, the archive lifecycle.
func TestProductFormScenarios(t *testing.T) {
	t.Parallel()
	form := productForm(t)
	typed := infracheck.Answers{
		"basics:namePrefix":                        "contoso",
		"integration:details.integrationId":        "contoso-prod",
		"integration:details.tenantId":             tenantID,
		"integration:details.clientId":             "a0000000-0000-4000-8000-000000000002",
		"integration:details.secretId":             "b0000000-0000-4000-8000-000000000003",
		"integration:details.clientSecret":         testSecret,
		"integration:details.permissions":          "read-write",
		"options:auth.authClientId":                "c0000000-0000-4000-8000-000000000004",
		"options:lifecycle.archiveCoolAfterDays":   float64(90),
		"options:lifecycle.archiveDeleteAfterDays": float64(730),
	}
	with := func(extra infracheck.Answers) infracheck.Answers {
		a := infracheck.Answers{}
		for k, v := range typed {
			a[k] = v
		}
		for k, v := range extra {
			a[k] = v
		}
		return a
	}
	for _, c := range []struct {
		name    string
		answers infracheck.Answers
		want    map[string]any
	}{
		{
			name:    "integration now, authentication, streaming",
			answers: with(infracheck.Answers{"integration:mode": "now", "options:auth.enableAuth": "Yes", "options:streaming.enableEventHub": true}),
			want: map[string]any{
				"location": "westeurope", "namePrefix": "contoso",
				"integrationId": "contoso-prod", "integrationTenantId": tenantID,
				"integrationClientId": "a0000000-0000-4000-8000-000000000002", "integrationSecretId": "b0000000-0000-4000-8000-000000000003",
				"integrationClientSecret": testSecret, "integrationPermissions": "read-write",
				"authClientId": "c0000000-0000-4000-8000-000000000004", "enableEventHub": true,
				"archiveCoolAfterDays": float64(90), "archiveDeleteAfterDays": float64(730),
			},
		},
		{
			name:    "integration later after typing one, no authentication, no streaming",
			answers: with(infracheck.Answers{"integration:mode": "later", "options:auth.enableAuth": "No", "options:streaming.enableEventHub": false}),
			want: map[string]any{
				"location": "westeurope", "namePrefix": "contoso",
				"integrationId": "", "integrationTenantId": "", "integrationClientId": "", "integrationSecretId": "",
				"integrationClientSecret": "", "integrationPermissions": "read-only",
				"authClientId": "", "enableEventHub": false,
				"archiveCoolAfterDays": float64(90), "archiveDeleteAfterDays": float64(730),
			},
		},
		{
			name:    "the form's defaults",
			answers: infracheck.Answers{"integration:mode": "later"},
			want: map[string]any{
				"location": "westeurope", "namePrefix": "edi",
				"integrationId": "", "integrationTenantId": "", "integrationClientId": "", "integrationSecretId": "",
				"integrationClientSecret": "", "integrationPermissions": "read-only",
				"authClientId": "", "enableEventHub": false, "archiveCoolAfterDays": float64(30), "archiveDeleteAfterDays": float64(0),
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := form.Evaluate(c.answers, "westeurope")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("parameters\n %v\nwant\n %v", redact(got), redact(c.want))
			}
		})
	}
}

// TestProductFormFeedsBicepParameters: every output of the form is a parameter of infra/main.bicep itself (not
// only of its ARM twin), with the same secrecy: the password box feeds a @secure() parameter.
func TestProductFormFeedsBicepParameters(t *testing.T) {
	t.Parallel()
	c := repoChecker(t)
	parsed, err := c.ParseBicep(infracheck.MainBicepPath)
	if err != nil {
		t.Fatal(err)
	}
	form := productForm(t)
	if len(form.Outputs) < 10 {
		t.Fatalf("the form has only %d outputs", len(form.Outputs))
	}
	for name, expr := range form.Outputs {
		p, ok := parsed[0].Param(name)
		if !ok {
			t.Errorf("form output %s is not a parameter of %s", name, infracheck.MainBicepPath)
			continue
		}
		refs, err := form.References(expr)
		if err != nil {
			t.Errorf("output %s: %v", name, err)
		}
		fromPasswordBox := false
		for _, el := range refs {
			fromPasswordBox = fromPasswordBox || el.Type == "Microsoft.Common.PasswordBox"
		}
		if secure := p.Decorators["secure"] == true; secure != fromPasswordBox {
			t.Errorf("output %s: @secure() %v in the Bicep, from a password box %v in the form", name, secure, fromPasswordBox)
		}
	}
}
