package hostsim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"
)

// developmentStorage is what UseDevelopmentStorage=true stands for: Azurite on its standard ports.
const developmentStorage = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
	"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
	"BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;" +
	"TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"

// Queue listener constants of the Storage Queues extension.
const (
	// processingVisibility hides a message while its function runs; the listener renews it at half-time.
	processingVisibility = 10 * time.Minute
	// storageOpTimeout bounds each completion call (delete, release, poison).
	storageOpTimeout = 30 * time.Second
)

type queueRuntime struct {
	h         *Host
	listeners []*queueListener

	clientsMu sync.Mutex
	clients   map[string]*azqueue.ServiceClient // by connection string
	created   map[string]bool                   // connection string + "|" + queue

	mu      sync.Mutex
	cancel  context.CancelFunc
	abort   func()
	wg      sync.WaitGroup
	running bool

	dispatched atomic.Uint64 // messages handed to invocations, for WaitIdle
}

type queueListener struct {
	rt       *queueRuntime
	fn       *Function
	queue    string
	conn     string
	kick     chan struct{}
	inflight atomic.Int64
	finished chan struct{} // one value per finished message (capacity-bounded signal)
}

func newQueueRuntime(h *Host) (*queueRuntime, error) {
	rt := &queueRuntime{h: h, clients: map[string]*azqueue.ServiceClient{}, created: map[string]bool{}}
	for _, fn := range h.app.Functions {
		if fn.Trigger.Type != TypeQueue {
			continue
		}
		rt.listeners = append(rt.listeners, &queueListener{rt: rt, fn: fn, queue: fn.Trigger.QueueName,
			kick: make(chan struct{}, 1), finished: make(chan struct{}, 1)})
	}
	return rt, nil
}

// storageConnection returns the connection string for a binding's `connection` setting: Options
// StorageConnectionString if set, else the setting <name> or AzureWebJobs<name> (default AzureWebJobsStorage),
// with UseDevelopmentStorage=true replaced by Options.DevelopmentStorage.
func (h *Host) storageConnection(name string) (string, error) {
	cs := h.opts.StorageConnectionString
	if cs == "" {
		if name == "" {
			name = "AzureWebJobsStorage"
		}
		v, ok := lookupSetting(h.settings, name)
		if !ok || v == "" {
			v, ok = lookupSetting(h.settings, "AzureWebJobs"+name)
		}
		if !ok || strings.TrimSpace(v) == "" {
			if _, ok := lookupSetting(h.settings, name+"__queueServiceUri"); ok {
				return "", fmt.Errorf("storage connection %q is identity-based; hostsim needs a connection string", name)
			}
			return "", fmt.Errorf("storage connection %q: app setting %s is not set", name, name)
		}
		cs = v
	}
	if IsDevelopmentStorage(cs) {
		// The Go SDKs reject the shortcut the real host accepts.
		cs = h.opts.DevelopmentStorage
	}
	return cs, nil
}

func (rt *queueRuntime) service(cs string) (*azqueue.ServiceClient, error) {
	rt.clientsMu.Lock()
	defer rt.clientsMu.Unlock()
	if c, ok := rt.clients[cs]; ok {
		return c, nil
	}
	c, err := azqueue.NewServiceClientFromConnectionString(cs, nil)
	if err != nil {
		return nil, fmt.Errorf("queue client: %w", redactKey(err, cs))
	}
	rt.clients[cs] = c
	return c, nil
}

// redactKey keeps the account key of a connection string out of an error.
func redactKey(err error, cs string) error {
	msg := err.Error()
	for _, kv := range strings.Split(cs, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok && v != "" && strings.EqualFold(k, "AccountKey") {
			msg = strings.ReplaceAll(msg, v, "[redacted]")
		}
	}
	return errors.New(msg)
}

// ensureQueue creates a queue once per runtime (the output binding and the poison path create on demand).
func (rt *queueRuntime) ensureQueue(ctx context.Context, cs, queue string) (*azqueue.QueueClient, error) {
	svc, err := rt.service(cs)
	if err != nil {
		return nil, err
	}
	q := svc.NewQueueClient(queue)
	key := cs + "|" + queue
	rt.clientsMu.Lock()
	done := rt.created[key]
	rt.clientsMu.Unlock()
	if done {
		return q, nil
	}
	if _, err := q.Create(ctx, nil); err != nil && !queueerror.HasCode(err, queueerror.QueueAlreadyExists) {
		return nil, fmt.Errorf("create queue %s: %w", queue, err)
	}
	rt.clientsMu.Lock()
	rt.created[key] = true
	rt.clientsMu.Unlock()
	return q, nil
}

func (rt *queueRuntime) encode(msg []byte) string {
	if rt.h.app.Host.Queues.MessageEncoding == "base64" {
		return base64.StdEncoding.EncodeToString(msg)
	}
	return string(msg)
}

// write puts messages on a queue output binding's queue and wakes this host's listener of that queue, as the
// extension's shared queue watcher does.
func (rt *queueRuntime) write(ctx context.Context, b *Binding, msgs [][]byte) error {
	if len(msgs) == 0 {
		return nil
	}
	cs, err := rt.h.storageConnection(b.Connection)
	if err != nil {
		return err
	}
	q, err := rt.ensureQueue(ctx, cs, b.QueueName)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if _, err := q.EnqueueMessage(ctx, rt.encode(m), nil); err != nil {
			return fmt.Errorf("enqueue to %s: %w", b.QueueName, err)
		}
	}
	for _, l := range rt.listeners {
		if strings.EqualFold(l.queue, b.QueueName) && l.conn == cs {
			select {
			case l.kick <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// RunQueues starts a listener for every enabled queue-triggered function: it polls with host.json
// extensions.queues settings, hides each message while its invocation runs, deletes it on success, releases it
// with visibilityTimeout on failure and moves it to <queue>-poison after maxDequeueCount attempts. It returns at
// once; StopQueues or Stop ends it, as does ctx (which then also cancels running invocations).
func (h *Host) RunQueues(ctx context.Context) error {
	rt := h.queues
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.running {
		return errors.New("hostsim: queue listeners already running")
	}
	h.mu.Lock()
	stopping := h.stopping
	h.mu.Unlock()
	if stopping {
		return ErrStopped
	}
	for _, l := range rt.listeners {
		cs, err := h.storageConnection(l.fn.Trigger.Connection)
		if err != nil {
			return fmt.Errorf("hostsim: function %s: %w", l.fn.Name, err)
		}
		if _, err := rt.service(cs); err != nil {
			return fmt.Errorf("hostsim: function %s: %w", l.fn.Name, err)
		}
		l.conn = cs
	}
	invokeCtx, abort := context.WithCancel(ctx)
	loopCtx, cancel := context.WithCancel(invokeCtx)
	stop := context.AfterFunc(h.lifetime, abort)
	rt.cancel, rt.abort = cancel, func() { stop(); abort() }
	rt.running = true
	for _, l := range rt.listeners {
		if h.disabled(l.fn) {
			continue
		}
		rt.wg.Add(1)
		go func() {
			defer rt.wg.Done()
			l.poll(loopCtx, invokeCtx)
		}()
	}
	return nil
}

// StopQueues stops the listeners and waits for running invocations to finish and their messages to be
// completed; when ctx ends first the invocations are cancelled.
func (h *Host) StopQueues(ctx context.Context) { h.queues.stop(ctx) }

func (rt *queueRuntime) stop(ctx context.Context) {
	rt.mu.Lock()
	cancel, abort := rt.cancel, rt.abort
	rt.cancel, rt.abort, rt.running = nil, nil, false
	rt.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	waitGroup(ctx, &rt.wg, abort)
	abort()
}

// poll is QueueListener's loop: fetch a batch when in-flight messages drop to newBatchThreshold, back off
// exponentially (with jitter) from QueueMinPollInterval to maxPollingInterval while the queue is empty.
func (l *queueListener) poll(loopCtx, invokeCtx context.Context) {
	h := l.rt.h
	cfg := h.app.Host.Queues
	minDelay := h.opts.QueueMinPollInterval
	delay := minDelay
	var wg sync.WaitGroup
	defer wg.Wait()
	svc, err := l.rt.service(l.conn)
	if err != nil {
		h.logf("queue %s: %v", l.queue, err)
		return
	}
	q := svc.NewQueueClient(l.queue)
	lastErr := ""
	for {
		for l.inflight.Load() > int64(cfg.NewBatchThreshold) {
			select {
			case <-l.finished:
			case <-loopCtx.Done():
				return
			}
		}
		if loopCtx.Err() != nil {
			return
		}
		resp, err := q.DequeueMessages(loopCtx, &azqueue.DequeueMessagesOptions{
			NumberOfMessages:  ptr(int32(cfg.BatchSize)),
			VisibilityTimeout: ptr(int32(processingVisibility / time.Second)),
		})
		if err != nil {
			if loopCtx.Err() != nil {
				return
			}
			if queueerror.HasCode(err, queueerror.QueueNotFound) {
				// The extension creates a missing trigger queue rather than failing.
				_, err = l.rt.ensureQueue(loopCtx, l.conn, l.queue)
			}
			if err != nil && err.Error() != lastErr {
				h.logf("queue %s: polling failed (will retry): %v", l.queue, redactKey(err, l.conn))
				lastErr = err.Error()
			}
		} else {
			lastErr = ""
		}
		if err == nil && len(resp.Messages) > 0 {
			delay = minDelay
			for _, m := range resp.Messages {
				l.inflight.Add(1)
				l.rt.dispatched.Add(1)
				wg.Add(1)
				go func() {
					defer wg.Done()
					l.process(invokeCtx, q, m)
					l.inflight.Add(-1)
					select {
					case l.finished <- struct{}{}:
					default:
					}
				}()
			}
			continue
		}
		t := time.NewTimer(jitter(delay))
		select {
		case <-loopCtx.Done():
			t.Stop()
			return
		case <-l.kick:
			delay = minDelay
		case <-t.C:
			delay = min(delay*2, max(cfg.MaxPollingInterval, minDelay))
		}
		t.Stop()
	}
}

// jitter spreads a backoff delay by ±20 %, like the extension's randomized exponential backoff.
func jitter(d time.Duration) time.Duration {
	return d*4/5 + time.Duration(rand.Int64N(int64(d*2/5)+1))
}

func ptr[T any](v T) *T { return &v }

// process runs one message through BeginProcessing, the invocation and CompleteProcessing (QueueProcessor).
func (l *queueListener) process(ctx context.Context, q *azqueue.QueueClient, m *azqueue.DequeuedMessage) {
	h := l.rt.h
	cfg := h.app.Host.Queues
	id, pop := deref(m.MessageID), deref(m.PopReceipt)
	text := deref(m.MessageText)
	count := int64(0)
	if m.DequeueCount != nil {
		count = *m.DequeueCount
	}
	opCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), storageOpTimeout)
	}

	if count > int64(cfg.MaxDequeueCount) {
		// A message whose earlier attempt never completed (the host died) is not run again.
		c, cancel := opCtx()
		l.poison(c, q, id, pop, text, fmt.Sprintf("dequeue count %d exceeds maxDequeueCount %d", count, cfg.MaxDequeueCount))
		cancel()
		return
	}
	body := []byte(text)
	if cfg.MessageEncoding == "base64" {
		dec, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			// (unverified) The extension's MessageDecodingFailed handler moves undecodable messages to the
			// poison queue without invoking the function.
			c, cancel := opCtx()
			l.poison(c, q, id, pop, text, "message is not valid base64 (messageEncoding is base64)")
			cancel()
			return
		}
		body = dec
	}

	// Queue times are the storage service's real clock; shift them onto the host's (possibly simulated) clock.
	now := h.now()
	shift := now.Sub(time.Now())
	simTime := func(t *time.Time) any {
		if t == nil {
			return nil
		}
		return dotnetTime(t.Add(shift))
	}
	form := h.opts.Form
	var value any = string(body)
	if strings.EqualFold(l.fn.Trigger.DataType, "binary") {
		value = body
	}
	data := map[string]json.RawMessage{l.fn.Trigger.Name: wireValue(value, form)}
	meta := map[string]json.RawMessage{
		"QueueTrigger":    wireValue(string(body), form),
		"DequeueCount":    wireValue(count, form),
		"Id":              wireValue(id, form),
		"PopReceipt":      wireValue(pop, form),
		"InsertionTime":   wireValueOrNil(simTime(m.InsertionTime), form),
		"ExpirationTime":  wireValueOrNil(simTime(m.ExpirationTime), form),
		"NextVisibleTime": wireValueOrNil(simTime(m.TimeNextVisible), form),
	}

	// Keep the message hidden while the function runs longer than half the processing visibility.
	var popMu sync.Mutex
	renewCtx, stopRenew := context.WithCancel(context.WithoutCancel(ctx))
	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		t := time.NewTicker(processingVisibility / 2)
		defer t.Stop()
		for {
			select {
			case <-renewCtx.Done():
				return
			case <-t.C:
				popMu.Lock()
				resp, err := q.UpdateMessage(renewCtx, id, pop, text, &azqueue.UpdateMessageOptions{VisibilityTimeout: ptr(int32(processingVisibility / time.Second))})
				if err == nil && resp.PopReceipt != nil {
					pop = *resp.PopReceipt
				}
				popMu.Unlock()
			}
		}
	}()
	inv := h.call(ctx, l.fn, data, meta, now)
	stopRenew()
	<-renewDone

	c, cancel := opCtx()
	defer cancel()
	switch {
	case inv.Succeeded():
		if _, err := q.DeleteMessage(c, id, pop, nil); err != nil {
			h.logf("queue %s: delete message %s: %v", l.queue, id, err)
		}
	case count >= int64(cfg.MaxDequeueCount):
		l.poison(c, q, id, pop, text, fmt.Sprintf("Message has reached MaxDequeueCount of %d", cfg.MaxDequeueCount))
	default:
		// Release: visible again after visibilityTimeout, with DequeueCount+1 on the next attempt.
		vis := int32(cfg.VisibilityTimeout / time.Second)
		if _, err := q.UpdateMessage(c, id, pop, text, &azqueue.UpdateMessageOptions{VisibilityTimeout: &vis}); err != nil {
			h.logf("queue %s: release message %s: %v", l.queue, id, err)
		}
	}
}

func wireValueOrNil(v any, form Form) json.RawMessage {
	if v == nil {
		return nil
	}
	return wireValue(v, form)
}

// poison copies a message to <queue>-poison and deletes the original.
func (l *queueListener) poison(ctx context.Context, q *azqueue.QueueClient, id, pop, text, why string) {
	h := l.rt.h
	name := l.queue + "-poison"
	h.logf("queue %s: %s. Moving message %s to queue '%s'.", l.queue, why, id, name)
	pq, err := l.rt.ensureQueue(ctx, l.conn, name)
	if err == nil {
		_, err = pq.EnqueueMessage(ctx, text, nil)
	}
	if err != nil {
		h.logf("queue %s: poison message %s: %v", l.queue, id, err)
		return
	}
	if _, err := q.DeleteMessage(ctx, id, pop, nil); err != nil {
		h.logf("queue %s: delete poisoned message %s: %v", l.queue, id, err)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// WaitIdle waits until every trigger queue is empty (no visible or hidden messages) and no queue-triggered
// invocation is running. The listeners must be running (RunQueues).
func (h *Host) WaitIdle(ctx context.Context) error {
	rt := h.queues
	rt.mu.Lock()
	running := rt.running
	rt.mu.Unlock()
	if !running && len(rt.listeners) > 0 {
		return errors.New("hostsim: WaitIdle needs running queue listeners (RunQueues)")
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		idle, err := rt.idle(ctx)
		if err != nil && ctx.Err() == nil {
			h.logf("WaitIdle: %v (will retry)", err)
		}
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("hostsim: waiting for idle queues: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// idle checks for no in-flight messages, empty queues, and no dispatch in between.
func (rt *queueRuntime) idle(ctx context.Context) (bool, error) {
	before := rt.dispatched.Load()
	for _, l := range rt.listeners {
		if l.inflight.Load() > 0 {
			return false, nil
		}
	}
	for _, l := range rt.listeners {
		if rt.h.disabled(l.fn) || l.conn == "" {
			continue
		}
		svc, err := rt.service(l.conn)
		if err != nil {
			return false, err
		}
		props, err := svc.NewQueueClient(l.queue).GetProperties(ctx, nil)
		if queueerror.HasCode(err, queueerror.QueueNotFound) {
			continue
		}
		if err != nil {
			return false, err
		}
		if props.ApproximateMessagesCount != nil && *props.ApproximateMessagesCount > 0 {
			return false, nil
		}
	}
	for _, l := range rt.listeners {
		if l.inflight.Load() > 0 {
			return false, nil
		}
	}
	return rt.dispatched.Load() == before, nil
}

// DrainQueues lets the queue-triggered functions work until their queues are empty: it starts the listeners if
// they are not running, waits for WaitIdle, and stops the listeners it started.
func (h *Host) DrainQueues(ctx context.Context) error {
	rt := h.queues
	rt.mu.Lock()
	running := rt.running
	rt.mu.Unlock()
	if !running {
		if err := h.RunQueues(ctx); err != nil {
			return err
		}
		defer h.StopQueues(ctx)
	}
	return h.WaitIdle(ctx)
}

// Enqueue puts a message on a queue of the host's storage account, encoded with host.json messageEncoding, as
// another producer would.
func (h *Host) Enqueue(ctx context.Context, queue string, message []byte) error {
	cs, err := h.storageConnection("")
	if err != nil {
		return err
	}
	q, err := h.queues.ensureQueue(ctx, cs, queue)
	if err != nil {
		return err
	}
	_, err = q.EnqueueMessage(ctx, h.queues.encode(message), nil)
	return err
}

func equalFoldTrim(s, want string) bool {
	return strings.EqualFold(strings.TrimSuffix(strings.TrimSpace(s), ";"), want)
}
