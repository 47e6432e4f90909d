package logging

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// TestAttrsNeverRepeatAKey: the handler names the integration and family of an invocation, and the worker it
// calls names them too; a line still carries each key once.
func TestAttrsNeverRepeatAKey(t *testing.T) {
	var buf bytes.Buffer
	ctx := Invocation(context.Background(), New(&buf, slog.LevelInfo), "inv-1", "CollectWork")
	ctx = Attrs(ctx, KeyIntegration, "contoso", KeyFamily, "reports")
	ctx = Attrs(ctx, KeyIntegration, "contoso", KeyFamily, "reports", KeyDataType, "users")
	From(ctx).Info("hello")
	line := buf.String()
	for _, key := range []string{KeyInvocation, KeyFunction, KeyIntegration, KeyFamily, KeyDataType} {
		if n := strings.Count(line, `"`+key+`":`); n != 1 {
			t.Errorf("key %s appears %d times in %s", key, n, line)
		}
	}
}
