package entrasim

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// snapshotCols are the collections read whole at a cadence whose ground truth SnapshotAt gives, by data type.
var snapshotCols = map[string]string{
	"conditionalAccessPolicies": colCAPolicies,
	"namedLocations":            colNamedLocations,
	"userRegistrationDetails":   colRegistration,
	"managedDevices":            colManagedDevices,
	"deviceConfigurations":      colDeviceConfigs,
	"mobileApps":                colMobileApps,
}

// SnapshotAt returns what a list of a snapshot data type (conditionalAccessPolicies, namedLocations,
// userRegistrationDetails, managedDevices, deviceConfigurations, mobileApps) served at asOf: id → the object's properties as Graph writes them.
func (t *Tenant) SnapshotAt(dataType string, asOf time.Time) (map[string]map[string]json.RawMessage, error) {
	col, ok := snapshotCols[dataType]
	if !ok {
		return nil, fmt.Errorf("entrasim: SnapshotAt: %q has no snapshot truth", dataType)
	}
	if err := t.checkAsOf(asOf); err != nil {
		return nil, err
	}
	t.syncChurn()
	t.syncRisk()
	t.store.mu.RLock()
	defer t.store.mu.RUnlock()
	c := t.store.cols[col]
	v := pin{s: math.MaxUint64, t: asOf.UnixNano()}
	out := map[string]map[string]json.RawMessage{}
	var w jw
	for _, id := range c.ids {
		r := c.byID[id]
		if st, ok := r.existsAt(v); !ok || st != stLive {
			continue
		}
		w.reset()
		writeValue(&w, r.propsAt(v))
		var p map[string]json.RawMessage
		if err := json.Unmarshal(w.b, &p); err != nil {
			return nil, fmt.Errorf("entrasim: SnapshotAt: %s %s: %w", dataType, r.id, err)
		}
		out[r.id] = p
	}
	return out, nil
}
