// Package chaos is ecsworker's reliability suite. Its tests, behind the
// build tag "chaos", push hundreds of flow runs through the real worker
// while the Prefect and AWS test servers fail, throttle and stall, tasks
// lack capacity or never start, and workers are killed and restarted; then
// they check that no run was lost or launched twice and that no secret
// reached a log:
//
//	go test -tags chaos ./internal/chaos/...
//	go test -tags chaos ./internal/chaos/... -chaos.runs=2000 -chaos.seed=42
//
// Everything runs in process, in testing/synctest bubbles: the hours of
// fake time a scenario needs cost seconds of wall time. The seed fixes the
// plan (what each task does, which faults come when, where workers die),
// not the interleaving of goroutines, so a failure it shows may take a few
// runs to show again; each bug found this way is also replayed step by step
// in regressions_test.go, so that it stays fixed.
// The package holds no code outside its tests; this file only makes it a
// package.
package chaos
