package stream

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/entra-di/edi/internal/catalog"
)

// Route is where a category's records are archived.
type Route struct {
	// DataType is the archive's data type (the type=… partition).
	DataType string
	// TimeField is the data type's event-time property ("" when the record's own time is the event time).
	TimeField string
	// Known is false for a category that neither the catalog nor pendingRoutes knows: it is archived under a data
	// type of its own name.
	Known bool
	// Graph is true for a data type the Graph collector collects too (in time buckets): the two sources archive
	// each record once between them (graph.go).
	Graph bool
}

// pendingRoutes route categories whose data types SPEC §4 names but the catalog does not declare yet
// (reference/eventhub.md §1.1); none at present, the Agent ID risk categories being the catalog's now. Once the
// catalog declares a data type with its categories, the catalog's route wins and the entry here is dead (a test
// says so).
var pendingRoutes = map[string]Route{}

// maxCategory bounds the length of a category used as a data type name.
const maxCategory = 100

// RouteOf returns where records of a category go: the catalog's data type for it (case-insensitive, legacy names
// included), a pending risk data type, or — for a category nobody knows yet — a data type named after the category
// itself, so nothing is ever dropped. Such a name keeps letters, digits, '.', '_' and '-' (anything else becomes
// '_'); one that would equal a declared data type's name is prefixed with "category.". ok is false only for a
// category that cannot name anything (empty after trimming, or longer than 100 characters).
func RouteOf(category string) (Route, bool) {
	category = strings.TrimSpace(category)
	if d, ok := catalog.ByCategory(category); ok {
		return Route{DataType: d.Name, TimeField: d.StreamTimeField(), Known: true, Graph: d.Buckets != nil}, true
	}
	if r, ok := pendingRoutes[strings.ToLower(category)]; ok {
		return r, true
	}
	if category == "" || len(category) > maxCategory {
		return Route{}, false
	}
	name := []byte(category)
	for i, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			name[i] = '_'
		}
	}
	dt := string(name)
	if taken(dt) {
		dt = "category." + dt
	}
	return Route{DataType: dt}, true
}

// taken reports whether name is a declared or pending data type's name, in any case.
func taken(name string) bool {
	if _, ok := catalog.Lookup(name); ok {
		return true
	}
	for _, d := range catalog.DataTypes {
		if strings.EqualFold(d.Name, name) {
			return true
		}
	}
	for _, r := range pendingRoutes {
		if strings.EqualFold(r.DataType, name) {
			return true
		}
	}
	return false
}

// routes caches RouteOf by category as written; a stream carries a handful of categories, and the cache stops
// growing at maxCached so a hub full of invented categories cannot grow it without bound.
var (
	routes      sync.Map // string → cachedRoute
	routesCount atomic.Int64
)

const maxCached = 1024

type cachedRoute struct {
	r  Route
	ok bool
}

// routeOf is RouteOf through the cache.
func routeOf(category string) (Route, bool) {
	if v, ok := routes.Load(category); ok {
		c := v.(cachedRoute)
		return c.r, c.ok
	}
	r, ok := RouteOf(category)
	if routesCount.Load() < maxCached {
		if _, loaded := routes.LoadOrStore(category, cachedRoute{r, ok}); !loaded {
			routesCount.Add(1)
		}
	}
	return r, ok
}

// timeFieldOf is Split's time hint: the data type's event-time property for a category.
func timeFieldOf(category string) string {
	r, _ := routeOf(category)
	return r.TimeField
}
