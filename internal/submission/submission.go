// Package submission holds the steps that take one scheduled flow run to an
// ECS task: claim it, render its job, launch its task. The worker runs them
// in that order and records the task; each step's failure comes back as an
// *Error whose Kind says what the failure means for the run, so that the
// worker decides in one place whether a claimed run crashes, waits for a
// retry with the same client token, or is left to the next worker.
package submission

import (
	"errors"
	"fmt"

	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
)

// Step names a step of a submission.
type Step string

// The steps, in the order the worker runs them.
const (
	StepClaim  Step = "claim"
	StepRender Step = "render"
	StepLaunch Step = "launch"
	StepRecord Step = "record"
)

// Kind is what a failed step means for its flow run.
type Kind int

const (
	// Crash means the request was refused or cannot be made, so no task was
	// started and none will be: the run is reported Crashed with the error.
	Crash Kind = iota
	// Retry means the failure may pass, and the request may even have gone
	// through with its answer lost (throttling, a server error, a lost
	// connection, no answer in time). The run stays claimed; a later pass
	// resumes it with the same client token, which finds the task or
	// starts it.
	Retry
	// NotClaimed means another worker has the run, or it is no longer due.
	// Nothing is reported.
	NotClaimed
)

func (k Kind) String() string {
	switch k {
	case Crash:
		return "crash"
	case Retry:
		return "retry"
	case NotClaimed:
		return "not claimed"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is a failed step.
type Error struct {
	Step Step
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Failed wraps err as step's failure, classified by Classify.
func Failed(step Step, err error) *Error {
	return &Error{Step: step, Kind: Classify(err), Err: err}
}

// Crashed wraps err as a failure no retry mends.
func Crashed(step Step, err error) *Error {
	return &Error{Step: step, Kind: Crash, Err: err}
}

// Crashf is Crashed with a formatted message.
func Crashf(step Step, format string, args ...any) *Error {
	return Crashed(step, fmt.Errorf(format, args...))
}

// KindOf is err's Kind when it is a step's *Error, else Classify(err).
func KindOf(err error) Kind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return Classify(err)
}

// Classify tells the failures after which a task may exist, or that may
// pass (Retry), from an answer that refused the request (Crash): bad
// parameters, a denied or unknown action, an unknown cluster, no capacity
// after retries, Prefect refusing the request itself.
func Classify(err error) Kind {
	if prefect.IsTransient(err) {
		return Retry
	}
	if _, ok := errors.AsType[*prefecterr.APIError](err); ok {
		return Crash
	}
	switch awserr.KindOf(err) {
	case awserr.KindTransient, awserr.KindThrottled:
		return Retry
	}
	return Crash
}
