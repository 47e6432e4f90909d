package entrasim

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// gen derives log records from event skeletons and the tenant's cast of principals.
type gen struct {
	seed uint64
	cast *cast
}

// eventID renders the id Graph would give the event.
func (g *gen) eventID(e *event) string {
	switch e.st.def.kind {
	case kindSignIn:
		return signInID(e)
	case kindAudit:
		return auditID(e, auditActivities[auditActivityIndex(e)].service)
	default:
		return guid(e.k0, e.k1)
	}
}

// signInID looks like the request ids Entra uses as sign-in ids: a GUID whose last byte is zero
// ("66ea54eb-6301-4ee5-be62-ff5a759b0100").
func signInID(e *event) string {
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(e.k0 >> (56 - 8*i))
		b[8+i] = byte(e.k1 >> (56 - 8*i))
	}
	b[15] = 0
	return formatGUID(b)
}

// record returns the filterable view of an event.
func (g *gen) record(e *event) view {
	switch e.st.def.kind {
	case kindSignIn:
		return g.signIn(e)
	case kindAudit:
		return g.audit(e)
	default:
		return g.provisioning(e)
	}
}

// ipFor returns an address in a place's block; host picks the last two octets.
func ipFor(p place, host uint64) string {
	return fmt.Sprintf("%d.%d.%d.%d", p.IPA, p.IPB, byte(host>>8)%254+1, byte(host)%254+1)
}

func tokenID(r *rng) string {
	var b [16]byte
	x, y := r.next(), r.next()
	for i := 0; i < 8; i++ {
		b[i] = byte(x >> (8 * i))
		b[8+i] = byte(y >> (8 * i))
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func upperAlnum(r *rng, n int) string {
	const set = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteByte(set[r.intn(len(set))])
	}
	return b.String()
}
