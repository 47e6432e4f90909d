package status

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/entra-di/edi/internal/cursor"
)

// RefreshSeconds is how often the page reloads itself (a meta refresh, stated on the page): often enough to follow
// a collection, rarely enough that an open tab costs nothing.
const RefreshSeconds = 120

//go:embed page.html
var pageHTML string

// page is the Status page: html/template escapes every value by its context, so names from a tenant (display
// names, error messages) can never become markup.
var page = template.Must(template.New("status").Funcs(template.FuncMap{
	"t": func(t *time.Time) string {
		if t == nil {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04Z")
	},
	"tv":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") },
	"t2":  func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"dur": func(s *int64) string {
		if s == nil {
			return "—"
		}
		return Duration(*s)
	},
	"runDur": func(start, end time.Time) string {
		if end.Before(start) {
			return "—"
		}
		return end.Sub(start).Round(10 * time.Millisecond).String()
	},
	"first": func(n int, errs []cursor.RunError) []cursor.RunError { return errs[:min(n, len(errs))] },
	"sub":   func(a, b int) int { return a - b },
	"deref": func(n *int) int {
		if n == nil {
			return 0
		}
		return *n
	},
	"pct": func(part, whole int) string {
		if whole == 0 {
			return "—"
		}
		return fmt.Sprintf("%.0f %%", 100*float64(part)/float64(whole))
	},
	"sevClass": func(s Severity) string {
		if s == Error {
			return "bad"
		}
		return "warn"
	},
	"stateClass": func(s string) string {
		switch {
		case s == cursor.StateOK:
			return "ok"
		case s == cursor.StateError, strings.HasPrefix(s, "error"):
			return "bad"
		case strings.HasPrefix(s, cursor.StateNotLicensed), strings.HasPrefix(s, cursor.StateMissingPermission),
			strings.HasPrefix(s, cursor.StateNotAvailable):
			return "warn"
		}
		return "muted"
	},
	"outcomeClass": func(s string) string {
		switch s {
		case "ok":
			return "ok"
		case "error", "partial":
			return "bad"
		}
		return "muted"
	},
}).Parse(pageHTML))

// view is what the page template renders: the report and the page's own settings.
type view struct {
	Report
	RefreshSeconds    int
	RefreshText       string
	SecretWarningDays int
}

// HTML renders the report as the Status page.
func (r Report) HTML(w io.Writer) error {
	return page.Execute(w, view{Report: r, RefreshSeconds: RefreshSeconds, RefreshText: fmt.Sprintf("%d minutes", RefreshSeconds/60),
		SecretWarningDays: SecretWarningDays})
}
