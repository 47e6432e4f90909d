// Package hostsim simulates the Azure Functions host (v4) for a custom handler, so tests run the real `handler`
// binary the way Azure runs it, against real Azurite, without Azure Functions Core Tools.
//
// It follows /work/shared/reference/functions-host.md: it reads host.json and <Name>/function.json from the app
// root, starts the handler with the host's environment on a free loopback port, probes GET / every 25 ms until it
// answers, restarts it when it exits (giving up after 3 failures in 30 minutes), and invokes functions with
// POST /{FunctionName} and the Data/Metadata envelope built by the host's rules — double encoding, dropped
// *Trigger keys, whole-second metadata times — independently of the handler's own envelope package.
//
// Triggers: Timer (TimerInfo, schedule monitor, past-due catch-up, RunTimers on an NCRONTAB schedule against an
// injectable clock), HTTP (routes, function keys, Easy Auth principal, http output, 230 s cap), queues on Azurite
// (RunQueues, visibility, poison queue, output bindings, WaitIdle) and Event Hubs: single batches (EventHub), and
// the trigger's delivery semantics over a simulated event hub (Hub, RunEventHub: partitions with sequence numbers,
// offsets and enqueued times, maxEventBatchSize, checkpoints after success and after a failure without a retry
// policy, function.json retry policies with RetryContext, redelivery from the last checkpoint after a host stop or
// a failed checkpoint write, batchCheckpointFrequency, initialOffsetOptions, retention). Every reply is held to
// the host's contract (2xx, JSON Content-Type, never empty or null, the base64 output gotcha) and every
// invocation is recorded for assertions (Invocations, WaitFor).
//
// BuildApp compiles ./handlers into the deployable layout; Start runs it.
package hostsim
