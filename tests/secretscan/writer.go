package secretscan

import (
	"io"
	"slices"
	"sync"
)

// Writer scans everything written through it, as a stream, and passes it on unchanged. A value split across two
// writes is still found: the writer keeps the last bytes of each write to scan with the next. It is safe for
// concurrent use.
type Writer struct {
	s     *Scanner
	where string
	next  io.Writer

	mu       sync.Mutex
	tail     []byte // the last bytes written, scanned again with the next write
	written  int    // bytes written before tail
	findings []Finding
}

// Writer returns a Writer that scans for s's secrets and writes to next (nil discards). where names the stream in
// findings ("handler output").
func (s *Scanner) Writer(where string, next io.Writer) *Writer {
	if next == nil {
		next = io.Discard
	}
	return &Writer{s: s, where: where, next: next}
}

// Write scans p and writes it on; the error is the next writer's.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	buf := append(w.tail, p...)
	for _, f := range w.s.Scan(w.where, buf) {
		// A hit inside the old tail may have been reported by the previous write.
		f.Offset += w.written
		if !w.reported(f) {
			w.findings = append(w.findings, f)
		}
	}
	keep := min(len(buf), w.s.maxPattern())
	w.written += len(buf) - keep
	w.tail = slices.Clone(buf[len(buf)-keep:])
	w.mu.Unlock()
	return w.next.Write(p)
}

// reported tells whether a hit of the same secret at the same offset of the stream is already a finding.
func (w *Writer) reported(f Finding) bool {
	for _, old := range w.findings {
		if old.Offset == f.Offset && old.Secret == f.Secret {
			return true
		}
	}
	return false
}

// Findings returns what was found so far.
func (w *Writer) Findings() []Finding {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.findings)
}
