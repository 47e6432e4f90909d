// Package logging builds the handler's structured logger: log/slog JSON lines on stderr, each carrying the
// invocation id and function name (and, deeper down, integration and data type) through the context.
package logging

import (
	"context"
	"io"
	"log/slog"
)

// Attribute keys shared by every package, so log queries can rely on them.
const (
	KeyInvocation  = "invocation_id"
	KeyFunction    = "function"
	KeyIntegration = "integration"
	KeyFamily      = "family"
	KeyDataType    = "data_type"
)

// New returns a JSON logger writing to w at the given minimum level.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

type ctxKey struct{}

// scoped is a context's logger and the attribute keys it already carries.
type scoped struct {
	logger *slog.Logger
	keys   map[string]bool
}

// With returns a context carrying logger.
func With(ctx context.Context, logger *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, scoped{logger: logger})
}

// From returns the context's logger, or a logger that discards everything when there is none.
func From(ctx context.Context) *slog.Logger {
	if s, ok := ctx.Value(ctxKey{}).(scoped); ok {
		return s.logger
	}
	return slog.New(slog.DiscardHandler)
}

// Invocation returns a context whose logger carries the invocation id and function name.
func Invocation(ctx context.Context, base *slog.Logger, invocationID, function string) context.Context {
	return Attrs(With(ctx, base), KeyInvocation, invocationID, KeyFunction, function)
}

// Attrs returns a context whose logger has the extra attributes, given as key-value pairs. A key the context's
// logger already carries is not added again: a JSON line never holds one key twice.
func Attrs(ctx context.Context, args ...any) context.Context {
	s, ok := ctx.Value(ctxKey{}).(scoped)
	if !ok {
		s = scoped{logger: slog.New(slog.DiscardHandler)}
	}
	keys := make(map[string]bool, len(s.keys)+len(args)/2)
	for k := range s.keys {
		keys[k] = true
	}
	var add []any
	for i := 0; i+1 < len(args); i += 2 {
		k, isString := args[i].(string)
		if !isString || keys[k] {
			continue
		}
		keys[k] = true
		add = append(add, k, args[i+1])
	}
	return context.WithValue(ctx, ctxKey{}, scoped{logger: s.logger.With(add...), keys: keys})
}
