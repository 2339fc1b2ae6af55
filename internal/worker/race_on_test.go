//go:build race

package worker_test

// raceDetector is on: tests that move hundreds of megabytes of JSON are
// skipped, and .ci/run runs them without it.
const raceDetector = true
