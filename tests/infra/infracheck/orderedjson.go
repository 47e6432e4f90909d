package infracheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Node is a JSON value that keeps the order of object members, so a generator can replace one member of a
// hand-written file (mainTemplate.json) and write the rest back unchanged.
type Node struct {
	// Members holds an object's members in file order; nil for arrays and scalars.
	Members []Member
	// Items holds an array's elements.
	Items []*Node
	// Scalar is the encoded value of a string, number, boolean or null.
	Scalar json.RawMessage
	kind   byte // '{', '[' or 's'
}

// Member is one name/value pair of an object.
type Member struct {
	Name  string
	Value *Node
}

// ParseJSON decodes b into an ordered tree.
func ParseJSON(b []byte) (*Node, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	n, err := parseNode(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON value")
	}
	return n, nil
}

func parseNode(dec *json.Decoder) (*Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &Node{kind: '{', Members: []Member{}}
			for dec.More() {
				keyTok, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, ok := keyTok.(string)
				if !ok {
					return nil, fmt.Errorf("object key is %T", keyTok)
				}
				for _, m := range n.Members {
					if m.Name == key {
						return nil, fmt.Errorf("duplicate object key %q", key)
					}
				}
				v, err := parseNode(dec)
				if err != nil {
					return nil, err
				}
				n.Members = append(n.Members, Member{Name: key, Value: v})
			}
			_, err := dec.Token() // '}'
			return n, err
		case '[':
			n := &Node{kind: '[', Items: []*Node{}}
			for dec.More() {
				v, err := parseNode(dec)
				if err != nil {
					return nil, err
				}
				n.Items = append(n.Items, v)
			}
			_, err := dec.Token() // ']'
			return n, err
		}
		return nil, fmt.Errorf("unexpected delimiter %v", t)
	default:
		raw, err := encodeScalar(t)
		if err != nil {
			return nil, err
		}
		return &Node{kind: 's', Scalar: raw}, nil
	}
}

func encodeScalar(v any) (json.RawMessage, error) {
	if num, ok := v.(json.Number); ok {
		return json.RawMessage(num.String()), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return json.RawMessage(bytes.TrimRight(buf.Bytes(), "\n")), nil
}

// NodeOf converts a Go value (maps are not allowed: their order is undefined) into a Node through its JSON
// encoding; structs keep their field order.
func NodeOf(v any) (*Node, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return ParseJSON(buf.Bytes())
}

// Get returns the member called name of an object, or nil.
func (n *Node) Get(name string) *Node {
	if n == nil {
		return nil
	}
	for _, m := range n.Members {
		if m.Name == name {
			return m.Value
		}
	}
	return nil
}

// Set replaces the member called name, or appends it.
func (n *Node) Set(name string, v *Node) {
	for i, m := range n.Members {
		if m.Name == name {
			n.Members[i].Value = v
			return
		}
	}
	n.Members = append(n.Members, Member{Name: name, Value: v})
}

// Format encodes the tree with two-space indentation and a final newline, the canonical layout of every
// generated or generator-maintained JSON file in infra/.
func (n *Node) Format() []byte {
	var b strings.Builder
	n.write(&b, "")
	b.WriteByte('\n')
	return []byte(b.String())
}

func (n *Node) write(b *strings.Builder, indent string) {
	switch n.kind {
	case '{':
		if len(n.Members) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteString("{\n")
		for i, m := range n.Members {
			key, _ := encodeScalar(m.Name)
			b.WriteString(indent + "  ")
			b.Write(key)
			b.WriteString(": ")
			m.Value.write(b, indent+"  ")
			if i < len(n.Members)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
	case '[':
		if len(n.Items) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[\n")
		for i, it := range n.Items {
			b.WriteString(indent + "  ")
			it.write(b, indent+"  ")
			if i < len(n.Items)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "]")
	default:
		b.Write(n.Scalar)
	}
}

// String returns the value of a string scalar, or "" for anything else.
func (n *Node) String() string {
	if n == nil || n.kind != 's' {
		return ""
	}
	var s string
	if json.Unmarshal(n.Scalar, &s) != nil {
		return ""
	}
	return s
}

// IsObject reports whether n is a JSON object.
func (n *Node) IsObject() bool { return n != nil && n.kind == '{' }

// IsArray reports whether n is a JSON array.
func (n *Node) IsArray() bool { return n != nil && n.kind == '[' }
