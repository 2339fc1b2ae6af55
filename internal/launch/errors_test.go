package launch_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/launch"
)

// apiErr is an error as the SDK returns it for a code it has no type for,
// with a client fault.
func apiErr(code, msg string) error {
	return &smithy.GenericAPIError{Code: code, Message: msg, Fault: smithy.FaultClient}
}

func TestRunTaskErrorMessages(t *testing.T) {
	t.Parallel()
	facts := launch.LaunchFactsForTest{
		Cluster: "prod", Region: "eu-west-1", TaskDefinition: "arn:aws:ecs:eu-west-1:1:task-definition/f:3",
		ExecutionRole: "arn:aws:iam::1:role/exec", Subnets: []string{"subnet-a"}, SecurityGroups: []string{"sg-1"},
		CapacityProviders: []string{"my-asg"},
	}
	tests := map[string]struct {
		err      error
		user     bool
		wantKind awserr.ErrorKind
		want     []string
	}{
		"cluster not found": {
			err: apiErr("ClusterNotFoundException", "Cluster not found."), wantKind: awserr.KindNotFound,
			want: []string{"RunTask failed after 3 attempts: Cluster not found. (ClusterNotFoundException)", `cluster "prod" (region eu-west-1)`, "create-cluster --cluster-name prod", "set the cluster job variable"},
		},
		"no container instances": {
			err: apiErr("InvalidParameterException", "No Container Instances were found in your cluster."), wantKind: awserr.KindCapacity,
			want: []string{"has no container instances", "launch_type FARGATE"},
		},
		"execution role lacks logs permissions": {
			err: apiErr("ClientException", "Fargate failed to validate logger args: AccessDeniedException: not authorized to perform logs:CreateLogGroup"), wantKind: awserr.KindPermanent,
			want: []string{"execution role arn:aws:iam::1:role/exec", "logs:CreateLogGroup, logs:CreateLogStream and logs:PutLogEvents", "execution_role_arn"},
		},
		"user's task definition inactive": {
			err: apiErr("ClientException", "TaskDefinition is inactive"), user: true, wantKind: awserr.KindNotFound,
			want: []string{"task definition arn:aws:ecs:eu-west-1:1:task-definition/f:3 is inactive", "remove task_definition_arn"},
		},
		"capacity provider": {
			err: apiErr("InvalidParameterException", "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster."), wantKind: awserr.KindPermanent,
			want: []string{"capacity provider strategy [my-asg]", "put-cluster-capacity-providers", "capacity_provider_strategy"},
		},
		"network": {
			err: apiErr("InvalidParameterException", "Error retrieving subnet information for [subnet-a]: The subnet ID 'subnet-a' does not exist"), wantKind: awserr.KindPermanent,
			want: []string{"subnets [subnet-a] and security groups [sg-1]", "region eu-west-1", "vpc_id"},
		},
		"fargate capacity": {
			err: &awserr.RunTaskFailure{Reason: "Capacity is unavailable at this time. Please try again later or in a different availability zone"}, wantKind: awserr.KindCapacity,
			want: []string{"other availability zones"},
		},
		"memory": {
			err: &awserr.RunTaskFailure{Reason: "RESOURCE:MEMORY", Arn: "arn:aws:ecs:eu-west-1:1:container-instance/x"}, wantKind: awserr.KindCapacity,
			want: []string{"RunTask failed after 3 attempts: RESOURCE:MEMORY", "lower cpu/memory"},
		},
		"invalid parameter": {
			err: apiErr("InvalidParameterException", "Override for container named nope is not a container in the TaskDefinition."), wantKind: awserr.KindPermanent,
			want: []string{"Override for container named nope", "task_run_request"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := facts
			f.UserTaskDefinition = tc.user
			le := launch.RunTaskErrorForTest(tc.err, f, 3)
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
