package remediate

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	abs "github.com/microsoft/kiota-abstractions-go"
	msgraph "github.com/microsoftgraph/msgraph-sdk-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/entra-di/edi/internal/graph"
)

// tenant makes the typed Graph calls of remediation (msgraph-sdk-go models through the integration's client).
// Every error is a *graph.Error.
type tenant struct {
	gc *msgraph.GraphServiceClient
}

func newTenant(c *graph.Client) tenant { return tenant{gc: msgraph.NewGraphServiceClient(c.Adapter())} }

// User is the target as Graph shows it now.
type User struct {
	ID          string `json:"id"`
	UPN         string `json:"userPrincipalName"`
	DisplayName string `json:"displayName,omitempty"`
	// Type is userType: Member or Guest.
	Type string `json:"userType"`
	// External reports an account that signs in at another tenant (B2B: a guest, or an #EXT# UPN).
	External bool `json:"external,omitempty"`
	// SessionsValidFrom is signInSessionsValidFromDateTime (revoke-sessions moves it).
	SessionsValidFrom *time.Time `json:"signInSessionsValidFromDateTime,omitempty"`
}

var userSelect = []string{"id", "userPrincipalName", "displayName", "userType", "signInSessionsValidFromDateTime", "creationType"}

func userOf(u models.Userable) *User {
	out := &User{ID: deref(u.GetId()), UPN: deref(u.GetUserPrincipalName()), DisplayName: deref(u.GetDisplayName()),
		Type: deref(u.GetUserType()), SessionsValidFrom: u.GetSignInSessionsValidFromDateTime()}
	out.External = out.Type == "Guest" || strings.Contains(strings.ToUpper(out.UPN), "#EXT#") || deref(u.GetCreationType()) == "Invitation"
	return out
}

// user reads a live user by object id or user principal name.
func (t tenant) user(ctx context.Context, ref string) (*User, error) {
	u, err := t.gc.Users().ByUserId(ref).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userSelect}})
	if err != nil {
		return nil, graph.SDKError(err, "/v1.0/users/"+url.PathEscape(ref))
	}
	return userOf(u), nil
}

// Role is a directory role the target holds.
type Role struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	TemplateID  string `json:"roleTemplateId,omitempty"`
}

// roles lists the activated directory roles a user holds, directly or through groups.
func (t tenant) roles(ctx context.Context, id string) ([]Role, error) {
	top := int32(999)
	page, err := t.gc.Users().ByUserId(id).TransitiveMemberOf().GraphDirectoryRole().Get(ctx,
		&users.ItemTransitiveMemberOfGraphDirectoryRoleRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.ItemTransitiveMemberOfGraphDirectoryRoleRequestBuilderGetQueryParameters{
				Select: []string{"id", "displayName", "roleTemplateId"}, Top: &top}})
	if err != nil {
		return nil, graph.SDKError(err, "/v1.0/users/"+id+"/transitiveMemberOf/microsoft.graph.directoryRole")
	}
	var out []Role
	for _, r := range page.GetValue() {
		out = append(out, Role{ID: deref(r.GetId()), DisplayName: deref(r.GetDisplayName()), TemplateID: deref(r.GetRoleTemplateId())})
	}
	if next := page.GetOdataNextLink(); next != nil && *next != "" {
		// More than 999 roles cannot happen; a further page still means "privileged".
		out = append(out, Role{DisplayName: "(more roles)"})
	}
	return out, nil
}

// Method is an authentication method of the target.
type Method struct {
	ID string `json:"id"`
	// Type is the @odata.type without its namespace, e.g. phoneAuthenticationMethod.
	Type string `json:"type"`
	// PhoneType is mobile, alternateMobile or office for phone methods.
	PhoneType string `json:"phoneType,omitempty"`
	// Detail names the method for people (the device, the masked number's type, the address).
	Detail string `json:"detail,omitempty"`
}

const passwordType = "passwordAuthenticationMethod"

// methods lists a user's registered authentication methods.
func (t tenant) methods(ctx context.Context, id string) ([]Method, error) {
	page, err := t.gc.Users().ByUserId(id).Authentication().Methods().Get(ctx, nil)
	if err != nil {
		return nil, graph.SDKError(err, "/v1.0/users/"+id+"/authentication/methods")
	}
	var out []Method
	for _, m := range page.GetValue() {
		x := Method{ID: deref(m.GetId()), Type: strings.TrimPrefix(deref(m.GetOdataType()), "#microsoft.graph.")}
		switch v := m.(type) {
		case models.PhoneAuthenticationMethodable:
			if pt := v.GetPhoneType(); pt != nil {
				x.PhoneType = pt.String()
			}
			x.Detail = x.PhoneType + " phone"
		case models.MicrosoftAuthenticatorAuthenticationMethodable:
			x.Detail = "Microsoft Authenticator on " + deref(v.GetDisplayName())
		case models.Fido2AuthenticationMethodable:
			x.Detail = "security key " + deref(v.GetModel())
		case models.EmailAuthenticationMethodable:
			x.Detail = "email"
		case models.WindowsHelloForBusinessAuthenticationMethodable:
			x.Detail = "Windows Hello for Business on " + deref(v.GetDisplayName())
		}
		out = append(out, x)
	}
	if next := page.GetOdataNextLink(); next != nil && *next != "" {
		return out, &graph.Error{Kind: graph.Unknown, Path: "/v1.0/users/" + id + "/authentication/methods", Message: "more than one page of authentication methods"}
	}
	return out, nil
}

// Step is one Graph request that changes the tenant, exactly as it is sent.
type Step struct {
	Method string `json:"method"`
	// Path is the URL path with its query, from the Graph root ("/v1.0/users/…").
	Path string          `json:"path"`
	Body json.RawMessage `json:"body,omitempty"`
	// MethodID names the authentication method a reset-mfa step deletes.
	MethodID string `json:"methodId,omitempty"`

	send func(ctx context.Context) error
}

// step builds a Step from the request the SDK would send and the call that sends it.
func step(ctx context.Context, info func(context.Context) (*abs.RequestInformation, error), send func(context.Context) error) (Step, error) {
	ri, err := info(ctx)
	if err != nil {
		return Step{}, fmt.Errorf("build request: %w", err)
	}
	u, err := ri.GetUri()
	if err != nil {
		return Step{}, fmt.Errorf("build request URL: %w", err)
	}
	s := Step{Method: ri.Method.String(), Path: u.EscapedPath(), send: send}
	if u.RawQuery != "" {
		s.Path += "?" + u.RawQuery
	}
	if len(ri.Content) > 0 {
		s.Body = slices.Clone(ri.Content)
	}
	return s, nil
}

func (t tenant) revokeStep(ctx context.Context, id string) (Step, error) {
	b := t.gc.Users().ByUserId(id).RevokeSignInSessions()
	return step(ctx, func(ctx context.Context) (*abs.RequestInformation, error) {
		return b.ToPostRequestInformation(ctx, nil)
	},
		func(ctx context.Context) error {
			// 200 {"value": true} or, as Graph sometimes answers, 204 (a documented known issue).
			_, err := b.PostAsRevokeSignInSessionsPostResponse(ctx, nil)
			return err
		})
}

func (t tenant) userTypeStep(ctx context.Context, id, userType string) (Step, error) {
	b := t.gc.Users().ByUserId(id)
	body := models.NewUser()
	body.SetUserType(&userType)
	return step(ctx, func(ctx context.Context) (*abs.RequestInformation, error) {
		return b.ToPatchRequestInformation(ctx, body, nil)
	},
		func(ctx context.Context) error {
			_, err := b.Patch(ctx, body, nil)
			return err
		})
}

func (t tenant) deleteUserStep(ctx context.Context, id string) (Step, error) {
	b := t.gc.Users().ByUserId(id)
	return step(ctx, func(ctx context.Context) (*abs.RequestInformation, error) {
		return b.ToDeleteRequestInformation(ctx, nil)
	},
		func(ctx context.Context) error { return b.Delete(ctx, nil) })
}

// deleteMethodStep builds the delete of one method by its type's endpoint; false for a type v1.0 cannot delete
// (the password, types this SDK does not know).
func (t tenant) deleteMethodStep(ctx context.Context, userID string, m Method) (Step, bool, error) {
	a := t.gc.Users().ByUserId(userID).Authentication()
	var info func(context.Context) (*abs.RequestInformation, error)
	var send func(context.Context) error
	switch m.Type {
	case "phoneAuthenticationMethod":
		b := a.PhoneMethods().ByPhoneAuthenticationMethodId(m.ID)
		info, send = func(ctx context.Context) (*abs.RequestInformation, error) {
			return b.ToDeleteRequestInformation(ctx, nil)
		},
			func(ctx context.Context) error { return b.Delete(ctx, nil) }
	case "microsoftAuthenticatorAuthenticationMethod":
		b := a.MicrosoftAuthenticatorMethods().ByMicrosoftAuthenticatorAuthenticationMethodId(m.ID)
		info, send = func(ctx context.Context) (*abs.RequestInformation, error) {
			return b.ToDeleteRequestInformation(ctx, nil)
		},
			func(ctx context.Context) error { return b.Delete(ctx, nil) }
	case "fido2AuthenticationMethod":
		b := a.Fido2Methods().ByFido2AuthenticationMethodId(m.ID)
		info, send = func(ctx context.Context) (*abs.RequestInformation, error) {
			return b.ToDeleteRequestInformation(ctx, nil)
		},
			func(ctx context.Context) error { return b.Delete(ctx, nil) }
	case "softwareOathAuthenticationMethod":
		b := a.SoftwareOathMethods().BySoftwareOathAuthenticationMethodId(m.ID)
		info, send = func(ctx context.Context) (*abs.RequestInformation, error) {
			return b.ToDeleteRequestInformation(ctx, nil)
		},
			func(ctx context.Context) error { return b.Delete(ctx, nil) }
	case "emailAuthenticationMethod":
		b := a.EmailMethods().ByEmailAuthenticationMethodId(m.ID)
		info, send = func(ctx context.Context) (*abs.RequestInformation, error) {
			return b.ToDeleteRequestInformation(ctx, nil)
		},
			func(ctx context.Context) error { return b.Delete(ctx, nil) }
	case "temporaryAccessPassAuthenticationMethod":
		b := a.TemporaryAccessPassMethods().ByTemporaryAccessPassAuthenticationMethodId(m.ID)
		info, send = func(ctx context.Context) (*abs.RequestInformation, error) {
			return b.ToDeleteRequestInformation(ctx, nil)
		},
			func(ctx context.Context) error { return b.Delete(ctx, nil) }
	case "windowsHelloForBusinessAuthenticationMethod":
		b := a.WindowsHelloForBusinessMethods().ByWindowsHelloForBusinessAuthenticationMethodId(m.ID)
		info, send = func(ctx context.Context) (*abs.RequestInformation, error) {
			return b.ToDeleteRequestInformation(ctx, nil)
		},
			func(ctx context.Context) error { return b.Delete(ctx, nil) }
	case "platformCredentialAuthenticationMethod":
		b := a.PlatformCredentialMethods().ByPlatformCredentialAuthenticationMethodId(m.ID)
		info, send = func(ctx context.Context) (*abs.RequestInformation, error) {
			return b.ToDeleteRequestInformation(ctx, nil)
		},
			func(ctx context.Context) error { return b.Delete(ctx, nil) }
	default:
		return Step{}, false, nil
	}
	s, err := step(ctx, info, send)
	s.MethodID = m.ID
	return s, err == nil, err
}

// deletedUser reads a soft-deleted user from deletedItems; nil when there is none with that id.
func (t tenant) deletedUser(ctx context.Context, id string) (*time.Time, error) {
	o, err := t.gc.Directory().DeletedItems().ByDirectoryObjectId(id).Get(ctx, nil)
	if err != nil {
		err = graph.SDKError(err, "/v1.0/directory/deletedItems/"+id)
		if graph.KindOf(err) == graph.NotFound {
			return nil, nil
		}
		return nil, err
	}
	when := o.GetDeletedDateTime()
	if when == nil {
		now := time.Time{}
		when = &now
	}
	return when, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
