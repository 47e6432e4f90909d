package kvsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Key Vault's JSON shapes (secret bundle, items, deleted bundle, error), field order as the service writes them.

type wireAttributes struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         *int64 `json:"created,omitempty"`
	Updated         *int64 `json:"updated,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	RecoverableDays *int   `json:"recoverableDays,omitempty"`
}

type wireSecret struct {
	Value       *string           `json:"value,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
	ID          string            `json:"id"`
	Attributes  wireAttributes    `json:"attributes"`
	Tags        map[string]string `json:"tags,omitempty"`
}

type wireDeletedSecret struct {
	RecoveryID         string            `json:"recoveryId"`
	DeletedDate        int64             `json:"deletedDate"`
	ScheduledPurgeDate int64             `json:"scheduledPurgeDate"`
	ContentType        string            `json:"contentType,omitempty"`
	ID                 string            `json:"id"`
	Attributes         wireAttributes    `json:"attributes"`
	Tags               map[string]string `json:"tags,omitempty"`
}

// wireList is a page of a list operation; nextLink is null on the last page, as Key Vault writes it.
type wireList[T any] struct {
	Value    []T     `json:"value"`
	NextLink *string `json:"nextLink"`
}

// wireSetRequest is the body of PUT /secrets/{name} and PATCH /secrets/{name}/{version}.
type wireSetRequest struct {
	Value       *string            `json:"value"`
	ContentType *string            `json:"contentType"`
	Attributes  *wireAttributes    `json:"attributes"`
	Tags        *map[string]string `json:"tags"`
}

type wireError struct {
	Error wireErrorBody `json:"error"`
}

type wireErrorBody struct {
	Code       string          `json:"code"`
	Message    string          `json:"message"`
	InnerError *wireInnerError `json:"innererror,omitempty"`
}

type wireInnerError struct {
	Code string `json:"code"`
}

// kvError is an error response.
type kvError struct {
	status  int
	code    string
	message string
	inner   string
}

func (e kvError) body() []byte {
	w := wireError{Error: wireErrorBody{Code: e.code, Message: e.message}}
	if e.inner != "" {
		w.Error.InnerError = &wireInnerError{Code: e.inner}
	}
	b, err := json.Marshal(w)
	if err != nil { // cannot happen: strings only
		panic(err)
	}
	return b
}

func errSecretNotFound(nameOrID string) kvError {
	return kvError{http.StatusNotFound, "SecretNotFound", fmt.Sprintf("A secret with (name/id) %s was not found in "+
		"this key vault. If you recently deleted this secret you may be able to recover it using the correct "+
		"recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
		nameOrID), ""}
}

func errDeletedSecretNotFound(name string) kvError {
	return kvError{http.StatusNotFound, "SecretNotFound", "Deleted Secret not found: " + name, ""}
}

func errSecretDisabled() kvError {
	return kvError{http.StatusForbidden, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled"}
}

func errDeletedButRecoverable(name string) kvError {
	return kvError{http.StatusConflict, "Conflict", fmt.Sprintf("Secret %s is currently in a deleted but "+
		"recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.",
		name), "ObjectIsDeletedButRecoverable"}
}

func errBadParameter(msg string) kvError {
	return kvError{http.StatusBadRequest, "BadParameter", msg, ""}
}

func errUnavailable() kvError {
	return kvError{http.StatusServiceUnavailable, "ServiceUnavailable",
		"The service is temporarily unavailable. Please retry the request.", ""}
}

func errNotFoundRoute() kvError {
	return kvError{http.StatusNotFound, "NotFound", "The requested URI does not represent any resource on the server.", ""}
}

func errMethodNotAllowed(method string) kvError {
	return kvError{http.StatusMethodNotAllowed, "MethodNotAllowed",
		fmt.Sprintf("The requested resource does not support http method '%s'.", method), ""}
}

func unix(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	u := t.Unix()
	return &u
}

func fromUnix(u *int64) time.Time {
	if u == nil {
		return time.Time{}
	}
	return time.Unix(*u, 0)
}
