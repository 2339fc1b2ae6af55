// Package prefectfake is an in-memory Prefect 3 API server for tests,
// benchmarks and the sandbox. It stands in for a real Prefect server (or
// Prefect Cloud) and holds whatever talks to it to Prefect's contract:
//
//   - every request body, path and query parameter is checked against
//     Prefect's own OpenAPI schemas (embedded from openapi/), and refused
//     with the 422 Prefect would send; the same goes for unknown keys in
//     action bodies, wrong content types and limits over 200;
//   - every response the fake writes is checked against the same
//     documents, so a passing test proves the client was fed Prefect's
//     shapes, not the fake's;
//   - each such mismatch is a violation: with NewTestServer it fails the
//     test (t.Errorf) when it happens, and it is always listed by
//     Violations and passed to Options.OnViolation.
//
// Behaviour follows the Prefect server where a worker can observe it:
// orchestration of flow-run states (the CoreFlowPolicy rules a worker and
// an engine meet, deployment concurrency included), the scheduled-runs
// query, heartbeats and pool/worker/queue status, CSRF, basic and bearer
// auth, Cloud's workspace paths and worker ids, block documents,
// variables, logs and events (POST /events and the /events/in and
// /events/out WebSockets).
//
// The package must not import other ecsworker packages: it is the other
// side of the wire, and sharing code with the client would let both sides
// agree on the same mistake.
package prefectfake
