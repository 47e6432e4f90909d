package eventgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// obj is a JSON object whose keys keep their order and case as written: Entra's records mix camelCase and
// PascalCase, and some hold the same key twice in different cases.
type obj []kv

type kv struct {
	k string
	v any
}

// raw is JSON text written as it is.
type raw string

// with returns o with more members.
func (o obj) with(more ...kv) obj { return append(append(obj{}, o...), more...) }

// set replaces the value of key k (the first one) or appends it.
func (o obj) set(k string, v any) obj {
	out := append(obj{}, o...)
	for i := range out {
		if out[i].k == k {
			out[i].v = v
			return out
		}
	}
	return append(out, kv{k, v})
}

// without drops key k.
func (o obj) without(k string) obj {
	var out obj
	for _, m := range o {
		if m.k != k {
			out = append(out, m)
		}
	}
	return out
}

// get returns the value of key k.
func (o obj) get(k string) any {
	for _, m := range o {
		if m.k == k {
			return m.v
		}
	}
	return nil
}

func (o obj) String() string {
	var b bytes.Buffer
	write(&b, o)
	return b.String()
}

func write(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case obj:
		b.WriteByte('{')
		for i, m := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			write(b, m.k)
			b.WriteByte(':')
			write(b, m.v)
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			write(b, e)
		}
		b.WriteByte(']')
	case raw:
		b.WriteString(string(x))
	case string:
		// Entra writes <, > and & as they are ("<null>"); json.Marshal would escape them for HTML.
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(x)
		b.Truncate(b.Len() - 1) // Encode's newline
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case nil:
		b.WriteString("null")
	default:
		panic(fmt.Sprintf("eventgen: cannot write %T", v))
	}
}
