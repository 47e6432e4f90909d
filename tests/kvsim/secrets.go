package kvsim

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxPageSize is Key Vault's maximum (and default) page size for list operations.
const maxPageSize = 25

// maxBody bounds request bodies (Key Vault's secret value limit is 25 KB).
const maxBody = 1 << 20

// Attributes are the optional properties of a secret version set through the Go API.
type Attributes struct {
	// Enabled defaults to true when nil.
	Enabled *bool
	// NotBefore and Expires are the nbf and exp attributes; zero means unset.
	NotBefore, Expires time.Time
	// ContentType is the secret's content type.
	ContentType string
	// Tags are the secret's tags.
	Tags map[string]string
}

// SecretVersion is one version of a secret as the vault stores it, for test inspection.
type SecretVersion struct {
	Name, Version, Value, ContentType string
	Tags                              map[string]string
	Enabled                           bool
	NotBefore, Expires                time.Time
	Created, Updated                  time.Time
}

// secret is one secret name with its versions in creation order (the last is the current one).
type secret struct {
	name     string // as first created
	versions []*SecretVersion
}

func (s *secret) latest() *SecretVersion { return s.versions[len(s.versions)-1] }

func (s *secret) version(id string) *SecretVersion {
	for _, ver := range s.versions {
		if strings.EqualFold(ver.Version, id) {
			return ver
		}
	}
	return nil
}

type deletedSecret struct {
	secret         *secret
	deletedDate    time.Time
	scheduledPurge time.Time
}

// SetSecret stores a new version of a secret through the Go API (as an administrator would, bypassing
// authentication) and returns the version.
func (v *Vault) SetSecret(name, value string, attrs *Attributes) (string, error) {
	if !validName(name) {
		return "", fmt.Errorf("kvsim: invalid secret name %q", name)
	}
	if attrs == nil {
		attrs = &Attributes{}
	}
	ver := &SecretVersion{Name: name, Value: value, ContentType: attrs.ContentType, Tags: maps.Clone(attrs.Tags),
		Enabled: attrs.Enabled == nil || *attrs.Enabled, NotBefore: attrs.NotBefore, Expires: attrs.Expires}
	v.mu.Lock()
	defer v.mu.Unlock()
	if kerr := v.addVersionLocked(ver); kerr != nil {
		return "", errors.New("kvsim: " + kerr.message)
	}
	return ver.Version, nil
}

// Secret returns the current version of a secret that is not deleted.
func (v *Vault) Secret(name string) (SecretVersion, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.active[strings.ToLower(name)]
	if !ok {
		return SecretVersion{}, false
	}
	return copyVersion(s.latest()), true
}

// SecretVersions returns every version of a secret that is not deleted, oldest first.
func (v *Vault) SecretVersions(name string) []SecretVersion {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.active[strings.ToLower(name)]
	if !ok {
		return nil
	}
	out := make([]SecretVersion, 0, len(s.versions))
	for _, ver := range s.versions {
		out = append(out, copyVersion(ver))
	}
	return out
}

// Deleted reports whether a secret is soft-deleted (recoverable or purgeable).
func (v *Vault) Deleted(name string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.purgeDueLocked()
	_, ok := v.deleted[strings.ToLower(name)]
	return ok
}

func copyVersion(ver *SecretVersion) SecretVersion {
	c := *ver
	c.Tags = maps.Clone(ver.Tags)
	return c
}

// addVersionLocked stamps and appends a new version; the caller holds v.mu.
func (v *Vault) addVersionLocked(ver *SecretVersion) *kvError {
	v.purgeDueLocked()
	key := strings.ToLower(ver.Name)
	if _, gone := v.deleted[key]; gone {
		e := errDeletedButRecoverable(ver.Name)
		return &e
	}
	now := v.now()
	ver.Version = newVersionID()
	ver.Created, ver.Updated = now, now
	s, ok := v.active[key]
	if !ok {
		s = &secret{name: ver.Name}
		v.active[key] = s
	}
	ver.Name = s.name
	s.versions = append(s.versions, ver)
	return nil
}

// purgeDueLocked removes deleted secrets whose scheduled purge date has passed, as the service does.
func (v *Vault) purgeDueLocked() {
	now := v.now()
	for k, d := range v.deleted {
		if !now.Before(d.scheduledPurge) {
			delete(v.deleted, k)
		}
	}
}

func newVersionID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// --- wire conversion ---

func (v *Vault) attributes(ver *SecretVersion) wireAttributes {
	enabled := ver.Enabled
	days := v.opts.RecoverableDays
	level := "Recoverable+Purgeable"
	if days < 90 {
		level = "CustomizedRecoverable+Purgeable"
	}
	return wireAttributes{
		Enabled: &enabled, NotBefore: unix(ver.NotBefore), Expires: unix(ver.Expires),
		Created: unix(ver.Created), Updated: unix(ver.Updated), RecoveryLevel: level, RecoverableDays: &days,
	}
}

func (v *Vault) secretID(name, version string) string {
	id := v.url + "/secrets/" + name
	if version != "" {
		id += "/" + version
	}
	return id
}

func (v *Vault) bundle(ver *SecretVersion, withValue bool) wireSecret {
	b := wireSecret{ContentType: ver.ContentType, ID: v.secretID(ver.Name, ver.Version),
		Attributes: v.attributes(ver), Tags: maps.Clone(ver.Tags)}
	if withValue {
		val := ver.Value
		b.Value = &val
	}
	return b
}

func (v *Vault) deletedBundle(d *deletedSecret, versioned bool) wireDeletedSecret {
	ver := d.secret.latest()
	id := v.secretID(ver.Name, "")
	if versioned {
		id = v.secretID(ver.Name, ver.Version)
	}
	return wireDeletedSecret{
		RecoveryID: v.url + "/deletedsecrets/" + d.secret.name, DeletedDate: d.deletedDate.Unix(),
		ScheduledPurgeDate: d.scheduledPurge.Unix(), ContentType: ver.ContentType, ID: id,
		Attributes: v.attributes(ver), Tags: maps.Clone(ver.Tags),
	}
}

// --- operations (each called with v.mu not held) ---

func (v *Vault) getSecret(_ *http.Request, name, version string) (int, any, *kvError) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.purgeDueLocked()
	s, ok := v.active[strings.ToLower(name)]
	if !ok {
		e := errSecretNotFound(name)
		return 0, nil, &e
	}
	ver := s.latest()
	if version != "" {
		if ver = s.version(version); ver == nil {
			e := errSecretNotFound(name + "/" + version)
			return 0, nil, &e
		}
	}
	// Key Vault documents that get works outside the nbf/exp window; only a disabled version is refused.
	if !ver.Enabled {
		e := errSecretDisabled()
		return 0, nil, &e
	}
	v.reads = append(v.reads, Read{Name: ver.Name, Version: ver.Version, At: v.now()})
	return http.StatusOK, v.bundle(ver, true), nil
}

func readSetRequest(r *http.Request) (wireSetRequest, *kvError) {
	var req wireSetRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil || json.Unmarshal(body, &req) != nil {
		e := errBadParameter("The request body is not valid JSON.")
		return req, &e
	}
	return req, nil
}

func (v *Vault) setSecret(r *http.Request, name, _ string) (int, any, *kvError) {
	req, kerr := readSetRequest(r)
	if kerr != nil {
		return 0, nil, kerr
	}
	if req.Value == nil {
		e := errBadParameter("Property 'value' is required.")
		return 0, nil, &e
	}
	ver := &SecretVersion{Name: name, Value: *req.Value, Enabled: true}
	if req.ContentType != nil {
		ver.ContentType = *req.ContentType
	}
	if req.Tags != nil {
		ver.Tags = maps.Clone(*req.Tags)
	}
	if a := req.Attributes; a != nil {
		if a.Enabled != nil {
			ver.Enabled = *a.Enabled
		}
		ver.NotBefore, ver.Expires = fromUnix(a.NotBefore), fromUnix(a.Expires)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if kerr := v.addVersionLocked(ver); kerr != nil {
		return 0, nil, kerr
	}
	return http.StatusOK, v.bundle(ver, true), nil
}

func (v *Vault) updateSecret(r *http.Request, name, version string) (int, any, *kvError) {
	req, kerr := readSetRequest(r)
	if kerr != nil {
		return 0, nil, kerr
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.purgeDueLocked()
	s, ok := v.active[strings.ToLower(name)]
	if !ok {
		e := errSecretNotFound(name)
		return 0, nil, &e
	}
	ver := s.latest() // an empty version updates the current one (unverified; the SDKs document "" as latest)
	if version != "" {
		if ver = s.version(version); ver == nil {
			e := errSecretNotFound(name + "/" + version)
			return 0, nil, &e
		}
	}
	if req.ContentType != nil {
		ver.ContentType = *req.ContentType
	}
	if req.Tags != nil {
		ver.Tags = maps.Clone(*req.Tags)
	}
	if a := req.Attributes; a != nil {
		if a.Enabled != nil {
			ver.Enabled = *a.Enabled
		}
		if a.NotBefore != nil {
			ver.NotBefore = fromUnix(a.NotBefore)
		}
		if a.Expires != nil {
			ver.Expires = fromUnix(a.Expires)
		}
	}
	ver.Updated = v.now()
	return http.StatusOK, v.bundle(ver, false), nil
}

func (v *Vault) deleteSecret(_ *http.Request, name, _ string) (int, any, *kvError) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.purgeDueLocked()
	key := strings.ToLower(name)
	s, ok := v.active[key]
	if !ok {
		e := errSecretNotFound(name)
		return 0, nil, &e
	}
	now := v.now()
	d := &deletedSecret{secret: s, deletedDate: now, scheduledPurge: now.AddDate(0, 0, v.opts.RecoverableDays)}
	delete(v.active, key)
	v.deleted[key] = d
	return http.StatusOK, v.deletedBundle(d, true), nil
}

func (v *Vault) getDeleted(_ *http.Request, name, _ string) (int, any, *kvError) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.purgeDueLocked()
	d, ok := v.deleted[strings.ToLower(name)]
	if !ok {
		e := errDeletedSecretNotFound(name)
		return 0, nil, &e
	}
	return http.StatusOK, v.deletedBundle(d, true), nil
}

func (v *Vault) recoverDeleted(_ *http.Request, name, _ string) (int, any, *kvError) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.purgeDueLocked()
	key := strings.ToLower(name)
	d, ok := v.deleted[key]
	if !ok {
		e := errDeletedSecretNotFound(name)
		return 0, nil, &e
	}
	delete(v.deleted, key)
	v.active[key] = d.secret
	return http.StatusOK, v.bundle(d.secret.latest(), false), nil
}

func (v *Vault) purgeDeleted(_ *http.Request, name, _ string) (int, any, *kvError) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.purgeDueLocked()
	key := strings.ToLower(name)
	if _, ok := v.deleted[key]; !ok {
		e := errDeletedSecretNotFound(name)
		return 0, nil, &e
	}
	delete(v.deleted, key)
	return http.StatusNoContent, nil, nil
}

// --- listing with nextLink paging ---

// pageParams reads maxresults and $skiptoken; the skiptoken is an opaque base64 JSON marker like Key Vault's.
func (v *Vault) pageParams(r *http.Request) (size int, after string, kerr *kvError) {
	q := r.URL.Query()
	size = v.opts.PageSize
	if s := q.Get("maxresults"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			e := errBadParameter(fmt.Sprintf("Invalid value for maxresults: %s. It must be between 1 and %d.", s, maxPageSize))
			return 0, "", &e
		}
		size = n
	}
	if tok := q.Get("$skiptoken"); tok != "" {
		var marker struct{ NextMarker string }
		raw, err := base64.RawStdEncoding.DecodeString(tok)
		if err != nil || json.Unmarshal(raw, &marker) != nil || marker.NextMarker == "" {
			e := errBadParameter("The skip token is not valid.")
			return 0, "", &e
		}
		after = marker.NextMarker
	}
	return size, after, nil
}

// page cuts a sorted key list after the marker and returns the keys of this page and the nextLink.
func (v *Vault) page(r *http.Request, keys []string, size int, after string) ([]string, *string) {
	start := 0
	if after != "" {
		start, _ = slices.BinarySearch(keys, after)
		if start < len(keys) && keys[start] == after {
			start++
		}
	}
	keys = keys[start:]
	if len(keys) <= size {
		return keys, nil
	}
	marker, _ := json.Marshal(map[string]any{"NextMarker": keys[size-1], "TargetLocation": 0})
	q := url.Values{}
	q.Set("api-version", r.URL.Query().Get("api-version"))
	next := v.url + r.URL.Path + "?" + q.Encode() + "&$skiptoken=" + base64.RawStdEncoding.EncodeToString(marker)
	if m := r.URL.Query().Get("maxresults"); m != "" {
		next += "&maxresults=" + m
	}
	return keys[:size], &next
}

func (v *Vault) listSecrets(r *http.Request, _, _ string) (int, any, *kvError) {
	size, after, kerr := v.pageParams(r)
	if kerr != nil {
		return 0, nil, kerr
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.purgeDueLocked()
	keys := slices.Sorted(maps.Keys(v.active))
	keys, next := v.page(r, keys, size, after)
	out := wireList[wireSecret]{Value: []wireSecret{}, NextLink: next}
	for _, k := range keys {
		s := v.active[k]
		item := v.bundle(s.latest(), false)
		item.ID = v.secretID(s.name, "")
		out.Value = append(out.Value, item)
	}
	return http.StatusOK, out, nil
}

func (v *Vault) listVersions(r *http.Request, name, _ string) (int, any, *kvError) {
	size, after, kerr := v.pageParams(r)
	if kerr != nil {
		return 0, nil, kerr
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.purgeDueLocked()
	out := wireList[wireSecret]{Value: []wireSecret{}}
	s, ok := v.active[strings.ToLower(name)]
	if !ok {
		return http.StatusOK, out, nil // Key Vault answers an empty list for an unknown name (recorded)
	}
	byID := map[string]*SecretVersion{}
	for _, ver := range s.versions {
		byID[ver.Version] = ver
	}
	// Key Vault lists versions in ascending order of their IDs (recorded)
	keys, next := v.page(r, slices.Sorted(maps.Keys(byID)), size, after)
	out.NextLink = next
	for _, k := range keys {
		out.Value = append(out.Value, v.bundle(byID[k], false))
	}
	return http.StatusOK, out, nil
}

func (v *Vault) listDeleted(r *http.Request, _, _ string) (int, any, *kvError) {
	size, after, kerr := v.pageParams(r)
	if kerr != nil {
		return 0, nil, kerr
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.purgeDueLocked()
	keys, next := v.page(r, slices.Sorted(maps.Keys(v.deleted)), size, after)
	out := wireList[wireDeletedSecret]{Value: []wireDeletedSecret{}, NextLink: next}
	for _, k := range keys {
		out.Value = append(out.Value, v.deletedBundle(v.deleted[k], false))
	}
	return http.StatusOK, out, nil
}
