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
	KeyDataType    = "data_type"
)

// New returns a JSON logger writing to w at the given minimum level.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

type ctxKey struct{}

// With returns a context carrying logger.
func With(ctx context.Context, logger *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, logger)
}

// From returns the context's logger, or a logger that discards everything when there is none.
func From(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// Invocation returns a context whose logger carries the invocation id and function name.
func Invocation(ctx context.Context, base *slog.Logger, invocationID, function string) context.Context {
	return With(ctx, base.With(KeyInvocation, invocationID, KeyFunction, function))
}

// Attrs returns a context whose logger has the extra attributes.
func Attrs(ctx context.Context, args ...any) context.Context {
	return With(ctx, From(ctx).With(args...))
}
