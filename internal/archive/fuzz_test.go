package archive

import (
	"strings"
	"testing"
)

// FuzzParsePart feeds arbitrary blob names to parsePart, which decides which blobs of a day's folder are parts of
// a bucket (and so whose records count as already archived). Nothing may panic, and the names it accepts are
// exactly the names PartName writes: the same bucket start and part number give back the same file name. Seeds:
// testdata/fuzz/FuzzParsePart.
func FuzzParsePart(f *testing.F) {
	f.Add(bucket.PartName(0))
	f.Add(bucket.PartName(9999))
	f.Fuzz(func(t *testing.T, name string) {
		info, ok := parsePart(name)
		if !ok {
			return
		}
		if info.Name != name {
			t.Fatalf("Name = %q, want %q", info.Name, name)
		}
		if info.Part < 0 || info.Part > 9999 {
			t.Fatalf("part number %d out of range in %q", info.Part, name)
		}
		if loc := info.BucketStart.Location(); loc.String() != "UTC" {
			t.Fatalf("bucket start %v is not UTC", info.BucketStart)
		}
		b := Bucket{Integration: "x", DataType: "y", Start: info.BucketStart}
		want := b.PartName(info.Part)
		base := name[strings.LastIndexByte(name, '/')+1:]
		if got := want[strings.LastIndexByte(want, '/')+1:]; got != base {
			t.Fatalf("parsePart(%q) = start %v part %d, which PartName writes as %q", name, info.BucketStart, info.Part, got)
		}
	})
}
