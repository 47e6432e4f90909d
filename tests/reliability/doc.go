// Package reliability is the reliability suite of SPEC §10: it runs the real handler under the host simulator
// against Azurite, the simulated Entra tenant and the Key Vault stand-in (tests/scenario), breaks things while it
// collects, and proves against the tenant's ground truth that every record is archived exactly once.
//
//   - TestKillRandom kills the handler (SIGKILL) at pseudo-random points — while Graph serves a page, before and
//     after a part commit, before and after a cursor write, at the start of a window, while archived keys are
//     read, at a lease renewal, before the run record, during a continuation — lets the host restart it, collects
//     on, and checks after every kill that no cursor claims data the archive lacks.
//   - TestGraphFaultMatrix injects every fault kind of the simulated Graph, singly and combined, by probability,
//     on the n-th and on every n-th request, and in bursts that outlast the retries, into the log streams and the
//     snapshot and versioned data types alike (a tenant with every licence).
//   - TestKillDirectory and TestKillSnapshots kill the handler inside rounds — the directory's delta rounds, and
//     the rounds of the snapshot, versioned and hashed data types — and check that no cursor or manifest names a
//     round, snapshot or version that is not durably archived.
//   - TestStorageOutage takes storage away mid-run — every connection dropped, Azurite stopped and restarted,
//     Azurite hung (SIGSTOP, then SIGCONT) — and TestKeyVaultUnavailable makes Key Vault answer 503: runs (or the
//     failed invocation's log line) name what failed, nothing is lost. Azurite is not SIGKILLed: it saves its
//     metadata on an interval, so a kill loses writes it acknowledged, which Azure Storage never does.
//   - TestLateArrivals collects every 45 simulated minutes for days while events arrive up to 48 h late; its
//     negative control turns the re-sweeps off and must miss late events.
//   - TestStreamExactlyOnce feeds StreamEvents a generated stream of every diagnostic-log category and variation
//     (tests/eventgen) through the host simulator's Event Hubs trigger while it kills the handler before and after
//     part commits and claim writes, stops the host with batches in flight, fails checkpoint writes and takes
//     storage away: every distinct record archived once, the quarantine exactly the corrupt items.
//     TestStreamWithoutRetryPolicyLosesBatches, its negative control, removes the function's retry policy and must
//     lose the records of the batch the host checkpointed after a failure.
//   - TestSecretScanCatchesPlantedSecrets shows the secret scanner, which every test here runs at its end, finds
//     secrets planted in a blob, a table entity, a queue message and the handler's output.
//
// Every test runs in short mode by default (part of `make test`). Long mode — more kill points, bigger tenants,
// longer schedules — runs with
//
//	go test ./tests/reliability -run . -timeout 2h -args -long
//
// Random choices come from one seed, printed in the test log; -seed N reproduces a run's plan (kill points and
// their order, clock steps); -kills N overrides the number of kill points.
package reliability
