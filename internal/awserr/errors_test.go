package awserr_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ecsworker/ecsworker/internal/awserr"
)

// apiErr is an error as the SDK returns it for a code it has no type for:
// with the fault of the answer's HTTP status, as every protocol sets it.
func apiErr(code, msg string) error {
	fault := smithy.FaultClient
	if strings.Contains(code, "Server") || strings.Contains(code, "Internal") || strings.Contains(code, "Unavailable") {
		fault = smithy.FaultServer
	}
	return &smithy.GenericAPIError{Code: code, Message: msg, Fault: fault}
}

// httpErr is an answer the SDK could not read an error code from, with
// only its HTTP status to go by.
func httpErr(status int) error {
	return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: errors.New("unreadable error body")}
}

// assumeRoleFailed is a call failed because its credentials provider's
// AssumeRole failed, wrapped as the SDK wraps it.
func assumeRoleFailed(err error) error {
	sts := &smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRole", Err: err}
	return &smithy.OperationError{ServiceID: "ECS", OperationName: "RunTask",
		Err: fmt.Errorf("get identity: get credentials: failed to refresh cached credentials, %w", sts)}
}

func TestClassification(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err  error
		want awserr.ErrorKind
	}{
		"ECS throttling":              {apiErr("ThrottlingException", "Rate exceeded"), awserr.KindThrottled},
		"EC2 throttling":              {apiErr("RequestLimitExceeded", "Request limit exceeded."), awserr.KindThrottled},
		"too many requests":           {apiErr("TooManyRequestsException", ""), awserr.KindThrottled},
		"HTTP 429 without a code":     {httpErr(429), awserr.KindThrottled},
		"rate exceeded in disguise":   {apiErr("InvalidParameterException", "Rate exceeded (ErrorCode: Throttling)"), awserr.KindThrottled},
		"concurrent revisions":        {apiErr("ClientException", "Too many concurrent attempts to create a new revision of the specified family."), awserr.KindThrottled},
		"wrapped by the SDK":          {fmt.Errorf("operation error ECS: RunTask: %w", apiErr("ThrottlingException", "Rate exceeded")), awserr.KindThrottled},
		"typed SDK error":             {&ecstypes.ClusterNotFoundException{Message: aws.String("Cluster not found.")}, awserr.KindNotFound},
		"cluster not found":           {apiErr("ClusterNotFoundException", "Cluster not found."), awserr.KindNotFound},
		"inactive task definition":    {apiErr("ClientException", "TaskDefinition is inactive"), awserr.KindNotFound},
		"unknown task definition":     {apiErr("ClientException", "Unable to describe task definition."), awserr.KindNotFound},
		"task not found":              {apiErr("InvalidParameterException", "The referenced task was not found."), awserr.KindNotFound},
		"EC2 not found":               {apiErr("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"), awserr.KindNotFound},
		"failure MISSING":             {&awserr.RunTaskFailure{Reason: "MISSING"}, awserr.KindNotFound},
		"RESOURCE:MEMORY":             {&awserr.RunTaskFailure{Reason: "RESOURCE:MEMORY"}, awserr.KindCapacity},
		"RESOURCE:CPU":                {&awserr.RunTaskFailure{Reason: "RESOURCE:CPU"}, awserr.KindCapacity},
		"AGENT":                       {&awserr.RunTaskFailure{Reason: "AGENT"}, awserr.KindCapacity},
		"Fargate capacity":            {&awserr.RunTaskFailure{Reason: "Capacity is unavailable at this time. Please try again later or in a different availability zone"}, awserr.KindCapacity},
		"no container instances":      {apiErr("InvalidParameterException", "No Container Instances were found in your cluster."), awserr.KindCapacity},
		"ATTRIBUTE":                   {&awserr.RunTaskFailure{Reason: "ATTRIBUTE"}, awserr.KindPermanent},
		"invalid parameter":           {apiErr("InvalidParameterException", "Task definition does not support launch_type FARGATE."), awserr.KindPermanent},
		"typed client exception":      {&ecstypes.ClientException{Message: aws.String("Container.image should not be null or empty.")}, awserr.KindPermanent},
		"a code nobody listed":        {apiErr("BrandNewValidationException", "the new rule"), awserr.KindPermanent},
		"HTTP 400 without a code":     {httpErr(400), awserr.KindPermanent},
		"access denied":               {apiErr("AccessDeniedException", "User: arn:aws:iam::1:user/u is not authorized to perform: ecs:RunTask on resource: *"), awserr.KindUnavailable},
		"typed access denied":         {&ecstypes.AccessDeniedException{Message: aws.String("User: u is not authorized to perform: ecs:ListTaskDefinitions")}, awserr.KindUnavailable},
		"EC2 unauthorized":            {apiErr("UnauthorizedOperation", "You are not authorized to perform this operation."), awserr.KindUnavailable},
		"query access denied":         {apiErr("AccessDenied", "User: u is not authorized to perform: sqs:ReceiveMessage"), awserr.KindUnavailable},
		"HTTP 403 without a code":     {httpErr(403), awserr.KindUnavailable},
		"unknown operation":           {apiErr("UnknownOperationException", ""), awserr.KindUnavailable},
		"EC2 invalid action":          {apiErr("InvalidAction", "The action DescribeVpcs is not valid for this web service."), awserr.KindUnavailable},
		"HTTP 501":                    {httpErr(501), awserr.KindUnavailable},
		"credentials refused":         {&v4.SigningError{Err: fmt.Errorf("failed to refresh cached credentials, %w", apiErr("AccessDenied", "User: u is not authorized to perform: sts:AssumeRole on resource: r"))}, awserr.KindPermanent},
		"credentials unreachable":     {&v4.SigningError{Err: errors.New("dial tcp: connection refused")}, awserr.KindTransient},
		"assume role refused":         {assumeRoleFailed(apiErr("AccessDenied", "User: u is not authorized to perform: sts:AssumeRole on resource: r")), awserr.KindPermanent},
		"assume role unreachable":     {assumeRoleFailed(apiErr("InternalFailure", "")), awserr.KindTransient},
		"request timeout":             {apiErr("RequestTimeoutException", "took too long"), awserr.KindTransient},
		"HTTP 408":                    {httpErr(408), awserr.KindTransient},
		"server error":                {apiErr("ServerException", "Service unavailable"), awserr.KindTransient},
		"HTTP 503 without a code":     {httpErr(503), awserr.KindTransient},
		"plain error":                 {errors.New("connection reset"), awserr.KindTransient},
		"launch error keeps its kind": {&awserr.LaunchError{Kind: awserr.KindCapacity, Err: apiErr("ClientException", "x")}, awserr.KindCapacity},
		"nil":                         {nil, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := awserr.KindOf(tc.err); got != tc.want {
				t.Errorf("KindOf = %q, want %q", got, tc.want)
			}
			if got, want := awserr.IsPermanent(tc.err), tc.want == awserr.KindPermanent; got != want {
				t.Errorf("IsPermanent = %v, want %v", got, want)
			}
			if got, want := awserr.IsUnavailable(tc.err), tc.want == awserr.KindUnavailable; got != want {
				t.Errorf("IsUnavailable = %v, want %v", got, want)
			}
		})
	}
}

// A refused credential is not a refused action: the error says to fix the
// block, and it is permanent, not a missing permission of the call.
func TestCredentialsErrorNamesTheBlock(t *testing.T) {
	t.Parallel()
	err := assumeRoleFailed(apiErr("AccessDenied", "User: u is not authorized to perform: sts:AssumeRole on resource: r"))
	le := awserr.Explain("RunTask", err, 1)
	if le.Kind != awserr.KindPermanent || !strings.Contains(le.Error(), "assume_role_arn") || strings.Contains(le.Error(), "Grant the worker's AWS identity ecs:RunTask") {
		t.Errorf("kind %s, %q", le.Kind, le.Error())
	}
}

// Denials name the action AWS refused, which is not always the one called.
func TestDenialNamesTheRefusedAction(t *testing.T) {
	t.Parallel()
	err := apiErr("AccessDeniedException", "User: arn:aws:sts::1:assumed-role/w/s is not authorized to perform: ecs:TagResource on resource: arn:aws:ecs:us-east-1:1:task-definition/f:1 because no identity-based policy allows the ecs:TagResource action")
	le := awserr.Explain("RegisterTaskDefinition", err, 1)
	if le.Kind != awserr.KindUnavailable || !strings.Contains(le.Fix, "ecs:TagResource") {
		t.Errorf("kind %s, fix %q", le.Kind, le.Fix)
	}
	unknown := awserr.Explain("ListTaskDefinitions", apiErr("UnknownOperationException", ""), 1)
	if !strings.Contains(unknown.Fix, "does not implement ecs:ListTaskDefinitions") {
		t.Errorf("fix %q", unknown.Fix)
	}
}

// kinded is a domain error that knows its kind, or leaves it to its cause.
type kinded struct {
	kind awserr.ErrorKind
	err  error
}

func (k *kinded) Error() string               { return "kinded" }
func (k *kinded) Unwrap() error               { return k.err }
func (k *kinded) ErrorKind() awserr.ErrorKind { return k.kind }

func TestKindedErrorsSayTheirKind(t *testing.T) {
	t.Parallel()
	if got := awserr.KindOf(&kinded{kind: awserr.KindPermanent}); got != awserr.KindPermanent {
		t.Errorf("own kind: %q", got)
	}
	if got := awserr.KindOf(&kinded{err: apiErr("ThrottlingException", "Rate exceeded")}); got != awserr.KindThrottled {
		t.Errorf("the cause's kind: %q", got)
	}
}

func TestShortageOf(t *testing.T) {
	t.Parallel()
	tests := map[string]awserr.Shortage{
		"InvalidParameterException No Container Instances were found in your cluster.": awserr.ShortageNoInstances,
		" Capacity is unavailable at this time. Please try again later":                awserr.ShortageFargate,
		" You've reached the limit on the number of tasks you can run concurrently":    awserr.ShortageTaskQuota,
		"RESOURCE:MEMORY ":  awserr.ShortageResources,
		"RESOURCE:GPU ":     awserr.ShortageResources,
		"RESOURCE:PORTS ":   awserr.ShortagePorts,
		"RESOURCE:ENI ":     awserr.ShortageENI,
		"AGENT ":            awserr.ShortageAgent,
		"ATTRIBUTE ":        awserr.ShortageUnknown,
		"something new ...": awserr.ShortageUnknown,
	}
	for text, want := range tests {
		if got := awserr.ShortageOf(text); got != want {
			t.Errorf("ShortageOf(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestIsStackNotFound(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		err  error
		want bool
	}{
		"CloudFormation's message": {apiErr("ValidationError", "Stack with id ecsworker-pool does not exist"), true},
		"with a full stop":         {apiErr("ValidationError", "Stack with id ecsworker-pool does not exist."), true},
		"a code of its own":        {apiErr("StackNotFoundException", "Stack [x] not found"), true},
		"wrapped by the SDK":       {fmt.Errorf("operation error CloudFormation: DescribeStacks: %w", apiErr("ValidationError", "Stack with id x does not exist")), true},
		"another validation error": {apiErr("ValidationError", "Parameter value vpc-1 for parameter name V does not exist"), false},
		"another code":             {apiErr("AccessDenied", "Stack with id x does not exist"), false},
		"not an answer":            {errors.New("Stack with id x does not exist"), false},
		"a missing change set":     {apiErr("ChangeSetNotFound", "ChangeSet [x] does not exist"), false},
		"nil":                      {nil, false},
	}
	for name, tc := range tests {
		if got := awserr.IsStackNotFound(tc.err); got != tc.want {
			t.Errorf("%s: IsStackNotFound = %v, want %v", name, got, tc.want)
		}
	}
}

func TestCredentialsNotObtained(t *testing.T) {
	t.Parallel()
	cause := errors.New("no EC2 IMDS role found")
	tests := map[string]struct {
		err       error
		want      bool
		wantCause error // nil: err itself
	}{
		"signing error":          {err: &v4.SigningError{Err: cause}, want: true, wantCause: cause},
		"identity not resolved":  {err: &smithy.OperationError{ServiceID: "STS", OperationName: "GetCallerIdentity", Err: fmt.Errorf("get identity: get credentials: %w", cause)}, want: true},
		"credentials refused":    {err: &smithy.OperationError{ServiceID: "STS", OperationName: "GetCallerIdentity", Err: apiErr("InvalidClientTokenId", "The security token included in the request is invalid.")}},
		"refused while resolved": {err: assumeRoleFailed(apiErr("AccessDenied", "not authorized to perform: sts:AssumeRole"))},
		"no answer":              {err: errors.New("dial tcp: connection refused")},
	}
	for name, tc := range tests {
		got, ok := awserr.CredentialsNotObtained(tc.err)
		want := tc.wantCause
		if want == nil && tc.want {
			want = tc.err
		}
		if ok != tc.want || !errors.Is(got, want) {
			t.Errorf("%s: CredentialsNotObtained = %v, %v; want %v, %v", name, got, ok, want, tc.want)
		}
	}
}
