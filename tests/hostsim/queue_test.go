package hostsim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/entra-di/edi/tests/azurite"
)

// countMessages returns the approximate message count of a queue (visible and hidden).
func countMessages(t *testing.T, ctx context.Context, svc *azqueue.ServiceClient, queue string) int {
	t.Helper()
	props, err := svc.NewQueueClient(queue).GetProperties(ctx, nil)
	if err != nil {
		t.Fatalf("queue %s properties: %v", queue, err)
	}
	return int(*props.ApproximateMessagesCount)
}

// drainMessages reads and deletes every visible message of a queue, returning the raw texts.
func drainMessages(t *testing.T, ctx context.Context, svc *azqueue.ServiceClient, queue string) []string {
	t.Helper()
	q := svc.NewQueueClient(queue)
	var out []string
	for {
		resp, err := q.DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{NumberOfMessages: ptr(int32(32))})
		if err != nil {
			t.Fatalf("dequeue %s: %v", queue, err)
		}
		if len(resp.Messages) == 0 {
			return out
		}
		for _, m := range resp.Messages {
			out = append(out, *m.MessageText)
			if _, err := q.DeleteMessage(ctx, *m.MessageID, *m.PopReceipt, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func decodeAll(t *testing.T, texts []string) []string {
	t.Helper()
	var out []string
	for _, s := range texts {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("message %q is not base64 (messageEncoding base64): %v", s, err)
		}
		out = append(out, string(b))
	}
	return out
}

// TestQueueTriggerSuccess checks the queue request of reference §5.4 and that a handled message is deleted.
func TestQueueTriggerSuccess(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	in, _, storage := withStorage(t)
	h := startProbe(t, c, storage)
	svc, _ := azurite.Shared(t).QueueClient()
	if err := h.Enqueue(ctx, in, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := h.DrainQueues(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countMessages(t, ctx, svc, in); n != 0 {
		t.Errorf("%d messages left in %s", n, in)
	}
	invs := h.Invocations()
	if len(invs) != 1 || !invs[0].Succeeded() {
		t.Fatalf("invocations = %+v", invs)
	}
	data, meta := c.Calls()[0].envelope(t)
	if got := string(data["item"]); got != `"\"hello\""` {
		t.Errorf("Data.item = %s, want the double-encoded string", got)
	}
	if got := string(meta["DequeueCount"]); got != `"1"` {
		t.Errorf("DequeueCount = %s, want \"1\"", got)
	}
	for _, k := range []string{"Id", "PopReceipt"} {
		if s := unquote(t, meta[k]); !strings.HasPrefix(s, `"`) || !strings.HasSuffix(s, `"`) {
			t.Errorf("%s = %s, want a double-encoded string", k, meta[k])
		}
	}
	for _, k := range []string{"InsertionTime", "ExpirationTime", "NextVisibleTime"} {
		if s := unquote(t, meta[k]); !wholeSecondOffset.MatchString(s) {
			t.Errorf("%s = %q, want whole seconds with +00:00", k, s)
		}
	}
	if _, ok := meta["QueueTrigger"]; ok {
		t.Error("Metadata has QueueTrigger")
	}
}

// TestQueueDocsForm checks the single-encoded form of the docs.
func TestQueueDocsForm(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	in, _, storage := withStorage(t)
	h := startProbe(t, c, func(o *Options) { storage(o); o.Form = DocsForm })
	if err := h.Enqueue(ctx, in, []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := h.DrainQueues(ctx); err != nil {
		t.Fatal(err)
	}
	data, meta := c.Calls()[0].envelope(t)
	if got := string(data["item"]); got != `"{\"a\":1}"` {
		t.Errorf("Data.item = %s", got)
	}
	if got := string(meta["DequeueCount"]); got != `1` {
		t.Errorf("DequeueCount = %s, want 1", got)
	}
}

// TestQueuePoison: a message that fails maxDequeueCount (5) times moves to <queue>-poison and is not invoked a
// sixth time; a handler that dies mid-invocation is a failure like any other.
func TestQueuePoison(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		respond   func(attempt int) instruction
		wantCalls int
		poisoned  bool
	}{
		{"always 500", func(int) instruction {
			return instruction{Status: 500, ContentType: "application/json", Body: `{}`}
		}, 5, true},
		{"handler exits on the first attempt, then succeeds", func(attempt int) instruction {
			if attempt == 1 {
				return instruction{Exit: ptrTo(3)}
			}
			return okReply()
		}, 2, false},
		{"text/plain replies count as failures", func(int) instruction {
			return instruction{ContentType: "text/plain", Body: `{}`}
		}, 5, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			c := newControl(t)
			c.setRespond(func(_ context.Context, pc probeCall) instruction { return tc.respond(len(c.Calls())) })
			in, _, storage := withStorage(t)
			h := startProbe(t, c, storage)
			svc, _ := azurite.Shared(t).QueueClient()
			if err := h.Enqueue(ctx, in, []byte(`{"work":"item-1"}`)); err != nil {
				t.Fatal(err)
			}
			if err := h.DrainQueues(ctx); err != nil {
				t.Fatal(err)
			}
			calls := c.Calls()
			if len(calls) != tc.wantCalls {
				t.Fatalf("handler called %d times, want %d", len(calls), tc.wantCalls)
			}
			for i, pc := range calls {
				_, meta := pc.envelope(t)
				if got, want := unquote(t, meta["DequeueCount"]), string(rune('1'+i)); got != want {
					t.Errorf("attempt %d: DequeueCount %s, want %s", i+1, got, want)
				}
			}
			var poison []string
			if tc.poisoned {
				poison = decodeAll(t, drainMessages(t, ctx, svc, in+"-poison"))
			}
			if tc.poisoned && !slices.Equal(poison, []string{`{"work":"item-1"}`}) {
				t.Errorf("poison queue = %q", poison)
			}
			if n := countMessages(t, ctx, svc, in); n != 0 {
				t.Errorf("%d messages left in %s", n, in)
			}
			failed := 0
			for _, inv := range h.Invocations() {
				if !inv.Succeeded() {
					failed++
				}
			}
			if want := tc.wantCalls - map[bool]int{true: 0, false: 1}[tc.poisoned]; failed != want {
				t.Errorf("%d failed invocations, want %d", failed, want)
			}
		})
	}
}

// TestQueueVisibility: a message is hidden while its invocation runs, and a failed one is released with
// host.json visibilityTimeout (30 s here), so it stays hidden right after the failure.
func TestQueueVisibility(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	release := make(chan struct{})
	c.setRespond(func(rctx context.Context, pc probeCall) instruction {
		select {
		case <-release:
		case <-rctx.Done():
		}
		return instruction{Status: 500, ContentType: "application/json", Body: `{}`}
	})
	in, _, storage := withStorage(t)
	app := probeVariant(t, func(host map[string]any) {
		host["extensions"].(map[string]any)["queues"].(map[string]any)["visibilityTimeout"] = "00:00:30"
	})
	h := startProbe(t, c, func(o *Options) { storage(o); o.AppRoot = app })
	svc, _ := azurite.Shared(t).QueueClient()
	if err := h.Enqueue(ctx, in, []byte("slow")); err != nil {
		t.Fatal(err)
	}
	if err := h.RunQueues(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitCalls(t, ctx, 1)
	peek := func() int {
		resp, err := svc.NewQueueClient(in).PeekMessages(ctx, &azqueue.PeekMessagesOptions{NumberOfMessages: ptr(int32(32))})
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Messages)
	}
	if n, total := peek(), countMessages(t, ctx, svc, in); n != 0 || total != 1 {
		t.Errorf("while processing: %d visible of %d, want 0 of 1", n, total)
	}
	close(release)
	invs, err := h.WaitInvocations(ctx, "Queue", 1)
	if err != nil {
		t.Fatal(err)
	}
	if invs[0].Succeeded() {
		t.Fatal("invocation succeeded")
	}
	// StopQueues returns once the listener has completed (released) the message.
	h.StopQueues(ctx)
	if n, total := peek(), countMessages(t, ctx, svc, in); n != 0 || total != 1 {
		t.Errorf("after a failure: %d visible of %d, want 0 of 1 (released with a 30 s visibility timeout)", n, total)
	}
	if len(c.Calls()) != 1 {
		t.Errorf("handler called %d times, want 1", len(c.Calls()))
	}
}

// TestQueueOutputs checks queue output bindings: an array is one message per element, an object one message,
// strings that happen to be base64 are decoded on non-binary bindings (and reported), messages are base64.
func TestQueueOutputs(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	_, out, storage := withStorage(t)
	h := startProbe(t, c, storage)
	svc, _ := azurite.Shared(t).QueueClient()
	tests := []struct {
		name        string
		outputs     map[string]any
		want        []string
		wantDecoded []string
	}{
		{"array is one message per element", map[string]any{"out": []any{map[string]any{"a": 1}, map[string]any{"b": 2}, "plain text"}}, []string{`{"a":1}`, `{"b":2}`, "plain text"}, nil},
		{"object is one message", map[string]any{"out": map[string]any{"integration": "contoso", "family": "reports"}}, []string{`{"family":"reports","integration":"contoso"}`}, nil},
		{"base64-looking string is decoded", map[string]any{"out": "dGVzdA=="}, []string{"test"}, []string{"out"}},
		{"short word that is valid base64", map[string]any{"out": "test"}, []string{"\xb5\xeb\x2d"}, []string{"out"}},
		{"plain string passes", map[string]any{"out": "not base64!"}, []string{"not base64!"}, nil},
		{"binary binding keeps the string", map[string]any{"outbin": "dGVzdA=="}, []string{"dGVzdA=="}, nil},
		{"null writes nothing", map[string]any{"out": nil}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.reply(replyWith(tc.outputs))
			res, err := h.HTTP(ctx, &HTTPRequest{Method: "POST", Path: "/api/items/9", RawQuery: "code=" + testFunctionKey})
			if err != nil {
				t.Fatal(err)
			}
			if !res.Invocation.Succeeded() {
				t.Fatalf("invocation failed: %s", res.Invocation.Failure)
			}
			got := decodeAll(t, drainMessages(t, ctx, svc, out))
			if !slices.Equal(got, tc.want) {
				t.Errorf("messages = %q, want %q", got, tc.want)
			}
			if !slices.Equal(res.Invocation.Base64Decoded, tc.wantDecoded) {
				t.Errorf("Base64Decoded = %v, want %v", res.Invocation.Base64Decoded, tc.wantDecoded)
			}
		})
	}
}

// TestQueueChain: a queue function's output to its own trigger queue is picked up at once (the shared queue
// watcher), and WaitIdle returns only when the chain has ended.
func TestQueueChain(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	c := newControl(t)
	c.setRespond(func(_ context.Context, pc probeCall) instruction {
		data, _ := pc.envelope(t)
		var s string
		_ = json.Unmarshal(data["item"], &s)
		_ = json.Unmarshal([]byte(s), &s)
		var item struct{ N int }
		_ = json.Unmarshal([]byte(s), &item)
		if item.N >= 4 {
			return okReply()
		}
		return replyWith(map[string]any{"out": []any{map[string]int{"N": item.N + 1}}})
	})
	in, _, storage := withStorage(t)
	h := startProbe(t, c, func(o *Options) { storage(o); o.Settings["PROBE_OUT_QUEUE"] = o.Settings["PROBE_QUEUE"] })
	if err := h.Enqueue(ctx, in, []byte(`{"N":0}`)); err != nil {
		t.Fatal(err)
	}
	if err := h.DrainQueues(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(c.Calls()); got != 5 {
		t.Errorf("chain ran %d invocations, want 5", got)
	}
}
