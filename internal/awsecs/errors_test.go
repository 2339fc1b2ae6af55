package awsecs_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/ecsworker/ecsworker/internal/awsecs"
)

func apiErr(code, msg string) error {
	return &smithy.GenericAPIError{Code: code, Message: msg}
}

func TestClassification(t *testing.T) {
	t.Parallel()
	type class int
	const (
		other class = iota
		throttle
		capacity
		notFound
		permanent
	)
	tests := map[string]struct {
		err  error
		want class
	}{
		"ECS throttling":              {apiErr("ThrottlingException", "Rate exceeded"), throttle},
		"EC2 throttling":              {apiErr("RequestLimitExceeded", "Request limit exceeded."), throttle},
		"too many requests":           {apiErr("TooManyRequestsException", ""), throttle},
		"rate exceeded in disguise":   {apiErr("InvalidParameterException", "Rate exceeded (ErrorCode: Throttling)"), throttle},
		"concurrent revisions":        {apiErr("ClientException", "Too many concurrent attempts to create a new revision of the specified family."), throttle},
		"wrapped by the SDK":          {fmt.Errorf("operation error ECS: RunTask: %w", apiErr("ThrottlingException", "Rate exceeded")), throttle},
		"typed SDK error":             {&ecstypes.ClusterNotFoundException{Message: aws.String("Cluster not found.")}, notFound},
		"cluster not found":           {apiErr("ClusterNotFoundException", "Cluster not found."), notFound},
		"inactive task definition":    {apiErr("ClientException", "TaskDefinition is inactive"), notFound},
		"unknown task definition":     {apiErr("ClientException", "Unable to describe task definition."), notFound},
		"task not found":              {apiErr("InvalidParameterException", "The referenced task was not found."), notFound},
		"EC2 not found":               {apiErr("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"), notFound},
		"failure MISSING":             {&awsecs.RunTaskFailure{Reason: "MISSING"}, notFound},
		"RESOURCE:MEMORY":             {&awsecs.RunTaskFailure{Reason: "RESOURCE:MEMORY"}, capacity},
		"RESOURCE:CPU":                {&awsecs.RunTaskFailure{Reason: "RESOURCE:CPU"}, capacity},
		"AGENT":                       {&awsecs.RunTaskFailure{Reason: "AGENT"}, capacity},
		"Fargate capacity":            {&awsecs.RunTaskFailure{Reason: "Capacity is unavailable at this time. Please try again later or in a different availability zone"}, capacity},
		"no container instances":      {apiErr("InvalidParameterException", "No Container Instances were found in your cluster."), capacity},
		"ATTRIBUTE":                   {&awsecs.RunTaskFailure{Reason: "ATTRIBUTE"}, permanent},
		"invalid parameter":           {apiErr("InvalidParameterException", "Task definition does not support launch_type FARGATE."), permanent},
		"client exception":            {apiErr("ClientException", "Container.image should not be null or empty."), permanent},
		"access denied":               {apiErr("AccessDeniedException", "User is not authorized to perform: ecs:RunTask"), permanent},
		"server error":                {apiErr("ServerException", "Service unavailable"), other},
		"plain error":                 {errors.New("connection reset"), other},
		"launch error keeps its kind": {&awsecs.LaunchError{Kind: awsecs.KindCapacity, Err: apiErr("ClientException", "x")}, capacity},
		"nil":                         {nil, other},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := map[class]bool{
				throttle:  awsecs.IsThrottle(tc.err),
				capacity:  awsecs.IsCapacity(tc.err),
				notFound:  awsecs.IsNotFound(tc.err),
				permanent: awsecs.IsPermanent(tc.err),
			}
			for c, is := range got {
				if is != (c == tc.want) {
					t.Errorf("class %d: got %v (want class %d)", c, is, tc.want)
				}
			}
		})
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
