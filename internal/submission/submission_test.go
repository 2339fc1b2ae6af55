package submission_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
	"github.com/ecsworker/ecsworker/internal/submission"
)

// prefectAnswer is an answer of the Prefect API other than 2xx, as the
// client returns it after its retries.
func prefectAnswer(op, method, path string, status int, detail string) *prefecterr.APIError {
	return &prefecterr.APIError{Op: op, Method: method, Path: path, Status: status, Detail: detail}
}

// prefectRefused is a Prefect request that found nothing listening.
func prefectRefused(op, method, url string) *prefecterr.TransportError {
	return &prefecterr.TransportError{Op: op, Method: method, URL: url, Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
}

// marshal is v as compact JSON, for comparisons.
func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := jsonv.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

// checkStepError asserts that err is a step's *submission.Error with the
// given step, kind and message.
func checkStepError(t *testing.T, err error, step submission.Step, kind submission.Kind, msg string) {
	t.Helper()
	se, ok := errors.AsType[*submission.Error](err)
	if !ok {
		t.Fatalf("error = %#v (%v), want a *submission.Error", err, err)
	}
	if se.Step != step || se.Kind != kind {
		t.Errorf("step, kind = %s, %s; want %s, %s", se.Step, se.Kind, step, kind)
	}
	if got := err.Error(); got != msg {
		t.Errorf("message:\n got: %s\nwant: %s", got, msg)
	}
}

func TestKindString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind submission.Kind
		want string
	}{
		{submission.Crash, "crash"},
		{submission.Retry, "retry"},
		{submission.NotClaimed, "not claimed"},
		{submission.Kind(7), "Kind(7)"},
		{submission.Kind(-1), "Kind(-1)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := tt.kind.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorConstructors(t *testing.T) {
	t.Parallel()
	cause := prefectAnswer("update flow run labels", "PATCH", "/flow_runs/run-1/labels", 503, "")
	tests := []struct {
		name      string
		err       *submission.Error
		wantStep  submission.Step
		wantKind  submission.Kind
		wantMsg   string
		wantCause error // nil: none to find with errors.Is
	}{
		{
			name: "Failed classifies a transient cause as Retry", err: submission.Failed(submission.StepLaunch, cause),
			wantStep: submission.StepLaunch, wantKind: submission.Retry,
			wantMsg:   "update flow run labels: PATCH /flow_runs/run-1/labels: 503 Service Unavailable",
			wantCause: cause,
		},
		{
			name: "Failed classifies a refusal as Crash", err: submission.Failed(submission.StepRecord, prefectAnswer("update flow run run-1", "PATCH", "/flow_runs/run-1", 403, "")),
			wantStep: submission.StepRecord, wantKind: submission.Crash,
			wantMsg: "update flow run run-1: PATCH /flow_runs/run-1: 403 Forbidden", wantCause: prefect.ErrForbidden,
		},
		{
			name: "Crashed keeps the cause but not its kind", err: submission.Crashed(submission.StepRender, cause),
			wantStep: submission.StepRender, wantKind: submission.Crash,
			wantMsg:   "update flow run labels: PATCH /flow_runs/run-1/labels: 503 Service Unavailable",
			wantCause: cause,
		},
		{
			name: "Crashf formats and wraps with %w", err: submission.Crashf(submission.StepRender, "read task definition %s: %w", "arn:td", cause),
			wantStep: submission.StepRender, wantKind: submission.Crash,
			wantMsg:   "read task definition arn:td: update flow run labels: PATCH /flow_runs/run-1/labels: 503 Service Unavailable",
			wantCause: cause,
		},
		{
			name: "Crashf without a cause", err: submission.Crashf(submission.StepClaim, "no %s", "template"),
			wantStep: submission.StepClaim, wantKind: submission.Crash, wantMsg: "no template",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkStepError(t, tt.err, tt.wantStep, tt.wantKind, tt.wantMsg)
			if tt.wantCause != nil && !errors.Is(tt.err, tt.wantCause) {
				t.Errorf("errors.Is(err, cause) = false; Unwrap = %v", tt.err.Unwrap())
			}
		})
	}
}

func TestClassifyAndKindOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want submission.Kind
	}{
		// Prefect: no answer, or a server-side answer, may pass.
		{"prefect connection refused", prefectRefused("set flow run state run-1", "POST", "http://prefect/api/flow_runs/run-1/set_state"), submission.Retry},
		{"prefect request timed out", &prefecterr.TransportError{Op: "read flow run run-1", Method: "GET", URL: "http://prefect/api/flow_runs/run-1", Err: context.DeadlineExceeded, Timeout: 30 * time.Second}, submission.Retry},
		{"prefect 503", prefectAnswer("read flow run run-1", "GET", "/flow_runs/run-1", 503, ""), submission.Retry},
		{"prefect 500 wrapped", fmt.Errorf("record task: %w", prefectAnswer("update flow run run-1", "PATCH", "/flow_runs/run-1", 500, "boom")), submission.Retry},
		{"prefect 429", prefectAnswer("update flow run labels", "PATCH", "/flow_runs/run-1/labels", 429, ""), submission.Retry},
		{"prefect 408", prefectAnswer("update flow run labels", "PATCH", "/flow_runs/run-1/labels", 408, ""), submission.Retry},
		// Prefect refusing the request itself: no retry mends it.
		{"prefect 404", prefectAnswer("update flow run labels", "PATCH", "/flow_runs/run-1/labels", 404, "Flow run not found"), submission.Crash},
		{"prefect 422", prefectAnswer("update flow run labels", "PATCH", "/flow_runs/run-1/labels", 422, "labels: value is not a valid dict"), submission.Crash},
		{"prefect 401 wrapped", fmt.Errorf("claim: %w", prefectAnswer("", "POST", "/flow_runs/run-1/set_state", 401, "")), submission.Crash},
		// AWS, by what its answer says.
		{"aws throttled", awsclienttest.Answer("RunTask", "ThrottlingException", "Rate exceeded", 400), submission.Retry},
		{"aws throttle disguised as a parameter error", awsclienttest.Answer("RunTask", "InvalidParameterException", "Rate exceeded (ErrorCode: Throttling)", 400), submission.Retry},
		{"aws HTTP 429 without a code", awsclienttest.StatusOnly("RunTask", 429), submission.Retry},
		{"aws server error", awsclienttest.Answer("RunTask", "ServerException", "Service unavailable", 500), submission.Retry},
		{"aws HTTP 503 without a code", awsclienttest.StatusOnly("RunTask", 503), submission.Retry},
		{"aws request timeout code", awsclienttest.Answer("RunTask", "RequestTimeout", "timed out", 400), submission.Retry},
		{"aws connection reset", awsclienttest.Unanswered("RunTask"), submission.Retry},
		{"aws bad parameter", awsclienttest.Answer("RunTask", "InvalidParameterException", "subnets can not be empty.", 400), submission.Crash},
		{"aws HTTP 400 without a code", awsclienttest.StatusOnly("RunTask", 400), submission.Crash},
		{"aws access denied", awsclienttest.Answer("RunTask", "AccessDeniedException", "User: arn:aws:iam::1:user/w is not authorized to perform: ecs:RunTask on resource: *", 400), submission.Crash},
		{"aws unknown cluster", awsclienttest.Answer("RunTask", "ClusterNotFoundException", "Cluster not found.", 400), submission.Crash},
		{"aws unknown operation", awsclienttest.Answer("RunTask", "UnknownOperationException", "", 400), submission.Crash},
		{"ecs capacity failure", &awserr.RunTaskFailure{Arn: "arn:ci", Reason: "RESOURCE:MEMORY"}, submission.Crash},
		{"launch error throttled", awserr.Explain("RunTask", awsclienttest.Answer("RunTask", "ThrottlingException", "Rate exceeded", 400), 5), submission.Retry},
		{"launch error transient", &awserr.LaunchError{Kind: awserr.KindTransient, Op: "RunTask", AWSMessage: "ECS returned neither a task nor a failure"}, submission.Retry},
		{"launch error capacity", &awserr.LaunchError{Kind: awserr.KindCapacity, Op: "RunTask", AWSCode: "RESOURCE:CPU"}, submission.Crash},
		{"launch error permanent", &awserr.LaunchError{Kind: awserr.KindPermanent, Op: "RunTask", AWSMessage: "values are still unresolved"}, submission.Crash},
		{"network plan without an AWS error", &launch.NetworkError{Msg: "the VPC has no subnets"}, submission.Crash},
		{"network plan throttled", &launch.NetworkError{Msg: "finding the task's subnets", Err: awsclienttest.Answer("DescribeVpcs", "RequestLimitExceeded", "Request limit exceeded.", 503)}, submission.Retry},
		// Nothing says the request was refused: it may pass.
		{"an unclassified error", errors.New("something broke"), submission.Retry},
		{"no error", nil, submission.Crash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := submission.Classify(tt.err); got != tt.want {
				t.Errorf("Classify(%v) = %s, want %s", tt.err, got, tt.want)
			}
			if got := submission.KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf(%v) = %s, want %s (Classify of a non-step error)", tt.err, got, tt.want)
			}
		})
	}
}

func TestKindOfStepError(t *testing.T) {
	t.Parallel()
	transient := prefectAnswer("read flow run run-1", "GET", "/flow_runs/run-1", 503, "")
	tests := []struct {
		name string
		err  error
		want submission.Kind
	}{
		{"a step's kind wins over its cause's", &submission.Error{Step: submission.StepClaim, Kind: submission.NotClaimed, Err: transient}, submission.NotClaimed},
		{"a crash with a transient cause stays a crash", submission.Crashed(submission.StepRender, transient), submission.Crash},
		{"wrapped step error", fmt.Errorf("submit run-1: %w", &submission.Error{Step: submission.StepLaunch, Kind: submission.Retry, Err: errors.New("x")}), submission.Retry},
		{"step error classified when made", submission.Failed(submission.StepLaunch, awsclienttest.Answer("RunTask", "InvalidParameterException", "bad", 400)), submission.Crash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := submission.KindOf(tt.err); got != tt.want {
				t.Errorf("KindOf = %s, want %s", got, tt.want)
			}
		})
	}
}
