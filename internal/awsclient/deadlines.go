package awsclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	"github.com/ecsworker/ecsworker/internal/awserr"
)

// CallTimeouts bound every AWS call of a Factory's clients, so that
// an endpoint that accepts connections and never answers holds nothing
// forever: a run's submission gives up, is deferred and resumed later with
// the same client token, and the worker's health says AWS is not answering.
type CallTimeouts struct {
	// Attempt bounds one attempt: credentials, connection, request and the
	// whole answer. A timed-out attempt is retried by the SDK's retryer
	// like a dropped connection. Default 30s (plus the long-poll wait of
	// SQS ReceiveMessage).
	Attempt time.Duration
	// Total bounds a call from its first attempt to its last, retries and
	// their backoff included; no attempt starts after it. Time spent
	// waiting for the client-side budget before the first attempt is not
	// counted: that is the worker pacing itself, not AWS hanging.
	// Default 2m.
	Total time.Duration
}

// Default call timeouts.
const (
	DefaultAttemptTimeout = 30 * time.Second
	DefaultCallTimeout    = 2 * time.Minute
)

// sqsLongPoll is the most SQS ReceiveMessage waits before answering.
const sqsLongPoll = 20 * time.Second

func (t CallTimeouts) withDefaults() CallTimeouts {
	if t.Attempt <= 0 {
		t.Attempt = DefaultAttemptTimeout
	}
	if t.Total <= 0 {
		t.Total = DefaultCallTimeout
	}
	return t
}

// AttemptTimeoutError is an attempt of an AWS call that got no (complete)
// answer in time. The SDK's retryer retries it: it is a timeout.
type AttemptTimeoutError struct {
	Action string
	After  time.Duration
}

func (e *AttemptTimeoutError) Error() string {
	return fmt.Sprintf("no answer from AWS to %s within %s (--aws-attempt-timeout)", e.Action, e.After.Round(time.Millisecond))
}

// Timeout reports the attempt as timed out, which the SDK's retryer
// retries like a dropped connection.
func (e *AttemptTimeoutError) Timeout() bool { return true }

// RetryableError tells the SDK's retryer to try again: the next attempt
// may get an answer.
func (e *AttemptTimeoutError) RetryableError() bool { return true }

// CallTimeoutError is an AWS call given up after CallTimeouts.Total: every
// attempt failed or timed out. Err is the last attempt's error.
type CallTimeoutError struct {
	Action string
	After  time.Duration
	Err    error
}

func (e *CallTimeoutError) Error() string {
	msg := fmt.Sprintf("gave up on %s after %s of failed or unanswered attempts (--aws-call-timeout)", e.Action, e.After)
	if e.Err != nil {
		msg += "; last error: " + e.Err.Error()
	}
	return msg
}

func (e *CallTimeoutError) Unwrap() error { return e.Err }

// RetryableError stops the SDK's retryer: the call's time is up. (Without
// it errors.As would find the retryable attempt timeout inside.)
func (e *CallTimeoutError) RetryableError() bool { return false }

// Timeout reports the call as timed out.
func (e *CallTimeoutError) Timeout() bool { return true }

// iamPrefix turns an SDK service id ("ECS", "CloudWatch Logs") into the
// prefix of its IAM actions ("ecs", "logs").
func iamPrefix(serviceID string) string {
	switch serviceID {
	case "CloudWatch Logs":
		return "logs"
	case "":
		return "aws"
	}
	return strings.ToLower(strings.ReplaceAll(serviceID, " ", ""))
}

type callClockKey struct{}

// callClock is one call's state across its attempts.
type callClock struct {
	first time.Time // when its first attempt started
	last  error     // its last attempt's error
}

// deadlineOption returns SDK middleware that applies t to every call of
// every client made from the configuration it is added to, and reports
// their attempts to monitor.
func deadlineOption(t CallTimeouts, monitor *CallMonitor) func(*middleware.Stack) error {
	t = t.withDefaults()
	return func(s *middleware.Stack) error {
		if err := s.Initialize.Add(middleware.InitializeMiddlewareFunc("ecsworker.CallClock", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(middleware.WithStackValue(ctx, callClockKey{}, &callClock{}), in)
		}), middleware.Before); err != nil {
			return err
		}
		m := &attemptDeadline{timeouts: t, monitor: monitor}
		// Inside the retry loop and after the budget, before signing (which
		// may fetch credentials from STS, itself a call that can hang).
		for _, after := range []string{(&budgetMiddleware{}).ID(), "Retry"} {
			if err := s.Finalize.Insert(m, after, middleware.After); err == nil {
				return nil
			}
		}
		return s.Finalize.Add(m, middleware.Before)
	}
}

type attemptDeadline struct {
	timeouts CallTimeouts
	monitor  *CallMonitor
}

func (*attemptDeadline) ID() string { return "ecsworker.AttemptDeadline" }

func (m *attemptDeadline) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error,
) {
	op := awsmiddleware.GetOperationName(ctx)
	action := iamPrefix(awsmiddleware.GetServiceID(ctx)) + ":" + op
	limit := m.timeouts.Attempt
	if op == "ReceiveMessage" {
		limit += sqsLongPoll
	}
	now := time.Now()
	clock, _ := middleware.GetStackValue(ctx, callClockKey{}).(*callClock)
	if clock != nil {
		if clock.first.IsZero() {
			clock.first = now
		} else {
			left := clock.first.Add(m.timeouts.Total).Sub(now)
			if left <= 0 {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, &CallTimeoutError{Action: action, After: m.timeouts.Total, Err: clock.last}
			}
			limit = min(limit, left)
		}
	}
	actx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	done := m.monitor.start(action, now)
	out, md, err := next.HandleFinalize(actx, in)
	if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		err = &AttemptTimeoutError{Action: action, After: limit}
	}
	if clock != nil {
		clock.last = err
	}
	done(ctx, err)
	return out, md, err
}

// CallMonitor watches a factory's AWS calls for the worker's health: calls
// that have had no answer for long, and calls that have kept failing.
// Answers that refuse the request (denied, invalid, throttled, not found)
// are answers: AWS is reachable. A nil *CallMonitor watches nothing.
type CallMonitor struct {
	mu       sync.Mutex
	seq      uint64
	inflight map[uint64]inflightCall
	// failingSince is when calls started failing without an answer (server
	// errors, network errors, timeouts) with no answer since; zero while
	// AWS answers.
	failingSince time.Time
	lastFailure  string
}

type inflightCall struct {
	action string
	since  time.Time
}

// NewCallMonitor returns a monitor that has seen nothing.
func NewCallMonitor() *CallMonitor { return &CallMonitor{inflight: map[uint64]inflightCall{}} }

func (m *CallMonitor) start(action string, at time.Time) func(context.Context, error) {
	if m == nil {
		return func(context.Context, error) {}
	}
	m.mu.Lock()
	m.seq++
	id := m.seq
	m.inflight[id] = inflightCall{action: action, since: at}
	m.mu.Unlock()
	return func(ctx context.Context, err error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.inflight, id)
		switch {
		case err == nil || awserr.KindOf(err) != awserr.KindTransient:
			m.failingSince, m.lastFailure = time.Time{}, ""
		case ctx.Err() != nil:
			// The caller gave up (shutdown, a cancelled run): says
			// nothing about AWS.
		default:
			if m.failingSince.IsZero() {
				m.failingSince = at
			}
			m.lastFailure = action + ": " + err.Error()
		}
	}
}

// Stalled reports whether AWS has not answered for longer than after: a
// call has been waiting that long, or every call for that long has failed
// without an answer. The reason says which, for /health.
func (m *CallMonitor) Stalled(now time.Time, after time.Duration) (bool, string) {
	if m == nil || after <= 0 {
		return false, ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var oldest inflightCall
	for _, c := range m.inflight {
		if oldest.since.IsZero() || c.since.Before(oldest.since) {
			oldest = c
		}
	}
	if !oldest.since.IsZero() && now.Sub(oldest.since) > after {
		return true, fmt.Sprintf("AWS has not answered %s for %s", oldest.action, now.Sub(oldest.since).Round(time.Second))
	}
	if !m.failingSince.IsZero() && now.Sub(m.failingSince) > after {
		return true, fmt.Sprintf("AWS calls have failed for %s (last: %s)", now.Sub(m.failingSince).Round(time.Second), m.lastFailure)
	}
	return false, ""
}
