package expiry

import (
	"context"
	"encoding/json"
	"net/url"
	"time"

	"github.com/entra-di/edi/internal/graph"
	"github.com/entra-di/edi/internal/integrations"
)

// Application is an app registration's object id, name and client secrets as Graph lists them.
type Application struct {
	ID                  string     `json:"id"`
	AppID               string     `json:"appId"`
	DisplayName         string     `json:"displayName"`
	PasswordCredentials []Password `json:"passwordCredentials"`
}

// Password is one client secret of an app registration (never its value: Graph returns that only to addPassword).
type Password struct {
	KeyID         string    `json:"keyId"`
	DisplayName   string    `json:"displayName"`
	Hint          string    `json:"hint"`
	StartDateTime time.Time `json:"startDateTime"`
	EndDateTime   time.Time `json:"endDateTime"`
}

// GraphApps reads app registrations through each integration's own Graph client.
type GraphApps struct {
	// Client returns the integration's Graph client.
	Client func(i integrations.Integration) (*graph.Client, error)
}

// Application reads the integration's app registration in its tenant with the list-and-filter form, which
// Directory.Read.All allows as well as Application.Read.All (reference/credentials.md §2); nil when the tenant has no
// such application (a multi-tenant app registered in another tenant).
func (g GraphApps) Application(ctx context.Context, i integrations.Integration) (*Application, error) {
	client, err := g.Client(i)
	if err != nil {
		return nil, err
	}
	q := "/v1.0/applications?$filter=" + url.QueryEscape("appId eq '"+i.ClientID+"'") + "&$select=id,appId,displayName,passwordCredentials"
	var found *Application
	_, err = client.Pages(ctx, q, func(it graph.Item) error {
		var app Application
		if err := json.Unmarshal(it.Raw, &app); err != nil {
			return err
		}
		found = &app
		return nil
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}
