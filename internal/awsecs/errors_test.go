package awsecs_test

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

	"github.com/ecsworker/ecsworker/internal/awsecs"
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
		want awsecs.ErrorKind
	}{
		"ECS throttling":              {apiErr("ThrottlingException", "Rate exceeded"), awsecs.KindThrottled},
		"EC2 throttling":              {apiErr("RequestLimitExceeded", "Request limit exceeded."), awsecs.KindThrottled},
		"too many requests":           {apiErr("TooManyRequestsException", ""), awsecs.KindThrottled},
		"HTTP 429 without a code":     {httpErr(429), awsecs.KindThrottled},
		"rate exceeded in disguise":   {apiErr("InvalidParameterException", "Rate exceeded (ErrorCode: Throttling)"), awsecs.KindThrottled},
		"concurrent revisions":        {apiErr("ClientException", "Too many concurrent attempts to create a new revision of the specified family."), awsecs.KindThrottled},
		"wrapped by the SDK":          {fmt.Errorf("operation error ECS: RunTask: %w", apiErr("ThrottlingException", "Rate exceeded")), awsecs.KindThrottled},
		"typed SDK error":             {&ecstypes.ClusterNotFoundException{Message: aws.String("Cluster not found.")}, awsecs.KindNotFound},
		"cluster not found":           {apiErr("ClusterNotFoundException", "Cluster not found."), awsecs.KindNotFound},
		"inactive task definition":    {apiErr("ClientException", "TaskDefinition is inactive"), awsecs.KindNotFound},
		"unknown task definition":     {apiErr("ClientException", "Unable to describe task definition."), awsecs.KindNotFound},
		"task not found":              {apiErr("InvalidParameterException", "The referenced task was not found."), awsecs.KindNotFound},
		"EC2 not found":               {apiErr("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"), awsecs.KindNotFound},
		"failure MISSING":             {&awsecs.RunTaskFailure{Reason: "MISSING"}, awsecs.KindNotFound},
		"RESOURCE:MEMORY":             {&awsecs.RunTaskFailure{Reason: "RESOURCE:MEMORY"}, awsecs.KindCapacity},
		"RESOURCE:CPU":                {&awsecs.RunTaskFailure{Reason: "RESOURCE:CPU"}, awsecs.KindCapacity},
		"AGENT":                       {&awsecs.RunTaskFailure{Reason: "AGENT"}, awsecs.KindCapacity},
		"Fargate capacity":            {&awsecs.RunTaskFailure{Reason: "Capacity is unavailable at this time. Please try again later or in a different availability zone"}, awsecs.KindCapacity},
		"no container instances":      {apiErr("InvalidParameterException", "No Container Instances were found in your cluster."), awsecs.KindCapacity},
		"ATTRIBUTE":                   {&awsecs.RunTaskFailure{Reason: "ATTRIBUTE"}, awsecs.KindPermanent},
		"invalid parameter":           {apiErr("InvalidParameterException", "Task definition does not support launch_type FARGATE."), awsecs.KindPermanent},
		"typed client exception":      {&ecstypes.ClientException{Message: aws.String("Container.image should not be null or empty.")}, awsecs.KindPermanent},
		"a code nobody listed":        {apiErr("BrandNewValidationException", "the new rule"), awsecs.KindPermanent},
		"HTTP 400 without a code":     {httpErr(400), awsecs.KindPermanent},
		"access denied":               {apiErr("AccessDeniedException", "User: arn:aws:iam::1:user/u is not authorized to perform: ecs:RunTask on resource: *"), awsecs.KindUnavailable},
		"typed access denied":         {&ecstypes.AccessDeniedException{Message: aws.String("User: u is not authorized to perform: ecs:ListTaskDefinitions")}, awsecs.KindUnavailable},
		"EC2 unauthorized":            {apiErr("UnauthorizedOperation", "You are not authorized to perform this operation."), awsecs.KindUnavailable},
		"query access denied":         {apiErr("AccessDenied", "User: u is not authorized to perform: sqs:ReceiveMessage"), awsecs.KindUnavailable},
		"HTTP 403 without a code":     {httpErr(403), awsecs.KindUnavailable},
		"unknown operation":           {apiErr("UnknownOperationException", ""), awsecs.KindUnavailable},
		"EC2 invalid action":          {apiErr("InvalidAction", "The action DescribeVpcs is not valid for this web service."), awsecs.KindUnavailable},
		"HTTP 501":                    {httpErr(501), awsecs.KindUnavailable},
		"credentials refused":         {&v4.SigningError{Err: fmt.Errorf("failed to refresh cached credentials, %w", apiErr("AccessDenied", "User: u is not authorized to perform: sts:AssumeRole on resource: r"))}, awsecs.KindPermanent},
		"credentials unreachable":     {&v4.SigningError{Err: errors.New("dial tcp: connection refused")}, awsecs.KindTransient},
		"assume role refused":         {assumeRoleFailed(apiErr("AccessDenied", "User: u is not authorized to perform: sts:AssumeRole on resource: r")), awsecs.KindPermanent},
		"assume role unreachable":     {assumeRoleFailed(apiErr("InternalFailure", "")), awsecs.KindTransient},
		"request timeout":             {apiErr("RequestTimeoutException", "took too long"), awsecs.KindTransient},
		"HTTP 408":                    {httpErr(408), awsecs.KindTransient},
		"server error":                {apiErr("ServerException", "Service unavailable"), awsecs.KindTransient},
		"HTTP 503 without a code":     {httpErr(503), awsecs.KindTransient},
		"plain error":                 {errors.New("connection reset"), awsecs.KindTransient},
		"launch error keeps its kind": {&awsecs.LaunchError{Kind: awsecs.KindCapacity, Err: apiErr("ClientException", "x")}, awsecs.KindCapacity},
		"nil":                         {nil, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := awsecs.KindOf(tc.err); got != tc.want {
				t.Errorf("KindOf = %q, want %q", got, tc.want)
			}
			if got, want := awsecs.IsPermanent(tc.err), tc.want == awsecs.KindPermanent; got != want {
				t.Errorf("IsPermanent = %v, want %v", got, want)
			}
			if got, want := awsecs.IsUnavailable(tc.err), tc.want == awsecs.KindUnavailable; got != want {
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
	le := awsecs.AWSErrorForTest("RunTask", err)
	if le.Kind != awsecs.KindPermanent || !strings.Contains(le.Error(), "assume_role_arn") || strings.Contains(le.Error(), "Grant the worker's AWS identity ecs:RunTask") {
		t.Errorf("kind %s, %q", le.Kind, le.Error())
	}
}

// Denials name the action AWS refused, which is not always the one called.
func TestDenialNamesTheRefusedAction(t *testing.T) {
	t.Parallel()
	err := apiErr("AccessDeniedException", "User: arn:aws:sts::1:assumed-role/w/s is not authorized to perform: ecs:TagResource on resource: arn:aws:ecs:us-east-1:1:task-definition/f:1 because no identity-based policy allows the ecs:TagResource action")
	le := awsecs.AWSErrorForTest("RegisterTaskDefinition", err)
	if le.Kind != awsecs.KindUnavailable || !strings.Contains(le.Fix, "ecs:TagResource") {
		t.Errorf("kind %s, fix %q", le.Kind, le.Fix)
	}
	unknown := awsecs.AWSErrorForTest("ListTaskDefinitions", apiErr("UnknownOperationException", ""))
	if !strings.Contains(unknown.Fix, "does not implement ecs:ListTaskDefinitions") {
		t.Errorf("fix %q", unknown.Fix)
	}
}

func TestRunTaskErrorMessages(t *testing.T) {
	t.Parallel()
	facts := awsecs.LaunchFactsForTest{
		Cluster: "prod", Region: "eu-west-1", TaskDefinition: "arn:aws:ecs:eu-west-1:1:task-definition/f:3",
		ExecutionRole: "arn:aws:iam::1:role/exec", Subnets: []string{"subnet-a"}, SecurityGroups: []string{"sg-1"},
		CapacityProviders: []string{"my-asg"},
	}
	tests := map[string]struct {
		err      error
		user     bool
		wantKind awsecs.ErrorKind
		want     []string
	}{
		"cluster not found": {
			err: apiErr("ClusterNotFoundException", "Cluster not found."), wantKind: awsecs.KindNotFound,
			want: []string{"RunTask failed after 3 attempts: Cluster not found. (ClusterNotFoundException)", `cluster "prod" (region eu-west-1)`, "create-cluster --cluster-name prod", "set the cluster job variable"},
		},
		"no container instances": {
			err: apiErr("InvalidParameterException", "No Container Instances were found in your cluster."), wantKind: awsecs.KindCapacity,
			want: []string{"has no container instances", "launch_type FARGATE"},
		},
		"execution role lacks logs permissions": {
			err: apiErr("ClientException", "Fargate failed to validate logger args: AccessDeniedException: not authorized to perform logs:CreateLogGroup"), wantKind: awsecs.KindPermanent,
			want: []string{"execution role arn:aws:iam::1:role/exec", "logs:CreateLogGroup, logs:CreateLogStream and logs:PutLogEvents", "execution_role_arn"},
		},
		"user's task definition inactive": {
			err: apiErr("ClientException", "TaskDefinition is inactive"), user: true, wantKind: awsecs.KindNotFound,
			want: []string{"task definition arn:aws:ecs:eu-west-1:1:task-definition/f:3 is inactive", "remove task_definition_arn"},
		},
		"capacity provider": {
			err: apiErr("InvalidParameterException", "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster."), wantKind: awsecs.KindPermanent,
			want: []string{"capacity provider strategy [my-asg]", "put-cluster-capacity-providers", "capacity_provider_strategy"},
		},
		"network": {
			err: apiErr("InvalidParameterException", "Error retrieving subnet information for [subnet-a]: The subnet ID 'subnet-a' does not exist"), wantKind: awsecs.KindPermanent,
			want: []string{"subnets [subnet-a] and security groups [sg-1]", "region eu-west-1", "vpc_id"},
		},
		"fargate capacity": {
			err: &awsecs.RunTaskFailure{Reason: "Capacity is unavailable at this time. Please try again later or in a different availability zone"}, wantKind: awsecs.KindCapacity,
			want: []string{"other availability zones"},
		},
		"memory": {
			err: &awsecs.RunTaskFailure{Reason: "RESOURCE:MEMORY", Arn: "arn:aws:ecs:eu-west-1:1:container-instance/x"}, wantKind: awsecs.KindCapacity,
			want: []string{"RunTask failed after 3 attempts: RESOURCE:MEMORY", "lower cpu/memory"},
		},
		"invalid parameter": {
			err: apiErr("InvalidParameterException", "Override for container named nope is not a container in the TaskDefinition."), wantKind: awsecs.KindPermanent,
			want: []string{"Override for container named nope", "task_run_request"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := facts
			f.UserTaskDefinition = tc.user
			le := awsecs.RunTaskErrorForTest(tc.err, f, 3)
			if le.Kind != tc.wantKind {
				t.Errorf("kind %s, want %s", le.Kind, tc.wantKind)
			}
			msg := le.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
			if !errors.Is(le, tc.err) {
				t.Errorf("the LaunchError does not wrap the AWS error")
			}
		})
	}
}
