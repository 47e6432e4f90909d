package rawjson

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// benchPage builds a 1000-item sign-in page from the beta fixture's first element.
func benchPage(b *testing.B) []byte {
	raw, err := os.ReadFile(filepath.Join(fixtures, "beta-signin-list.json"))
	if err != nil {
		b.Fatal(err)
	}
	items, _, _, err := reference(raw)
	if err != nil || len(items) == 0 {
		b.Fatal(err)
	}
	var page bytes.Buffer
	page.WriteString(`{"@odata.context":"https://graph.microsoft.com/beta/$metadata#auditLogs/signIns","value":[`)
	for i := 0; i < 1000; i++ {
		if i > 0 {
			page.WriteByte(',')
		}
		page.Write(items[i%len(items)])
	}
	page.WriteString(`],"@odata.nextLink":"https://graph.microsoft.com/beta/auditLogs/signIns?$skiptoken=x"}`)
	return page.Bytes()
}

func BenchmarkReadPage(b *testing.B) {
	page := benchPage(b)
	var rd Reader
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rd.ReadPage(bytes.NewReader(page), func(raw []byte) error {
			_, err := Fields(raw, "id", "createdDateTime")
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodingJSONRawMessage(b *testing.B) {
	page := benchPage(b)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := reference(page); err != nil {
			b.Fatal(err)
		}
	}
}
