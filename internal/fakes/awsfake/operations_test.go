package awsfake_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

func TestRemoveOperation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{})
	e.s.RemoveOperation("ecs", "ListTaskDefinitions")
	e.s.RemoveOperation("ec2", "DescribeRouteTables")
	e.s.RemoveOperation("sts", "GetCallerIdentity")
	e.s.RemoveOperation("cloudformation", "ListStacks")

	_, err := e.ecs.ListTaskDefinitions(e.ctx, &ecs.ListTaskDefinitionsInput{}, once)
	if apiCode(err) != "UnknownOperationException" || httpStatus(err) != 400 {
		t.Errorf("awsJson = %v", err)
	}
	_, err = e.ec2.DescribeRouteTables(e.ctx, &ec2.DescribeRouteTablesInput{})
	if apiCode(err) != "InvalidAction" || httpStatus(err) != 400 || apiMessage(err) != "The action DescribeRouteTables is not valid for this web service." {
		t.Errorf("EC2 = %v", err)
	}
	_, err = e.sts.GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{})
	if apiCode(err) != "InvalidAction" || apiMessage(err) != "Could not find operation GetCallerIdentity for version 2011-06-15" {
		t.Errorf("query = %v", err)
	}
	_, err = e.cfn.ListStacks(e.ctx, &cloudformation.ListStacksInput{})
	if apiCode(err) != "InvalidAction" {
		t.Errorf("CloudFormation = %v", err)
	}
	// Other operations of the same services are untouched.
	if _, err := e.ecs.ListClusters(e.ctx, &ecs.ListClustersInput{}); err != nil {
		t.Errorf("ListClusters: %v", err)
	}
	if n := e.s.Calls()["ecs:ListTaskDefinitions"]; n != 1 {
		t.Errorf("Calls()[ecs:ListTaskDefinitions] = %d, want 1", n)
	}

	e.s.RestoreOperations()
	if _, err := e.ecs.ListTaskDefinitions(e.ctx, &ecs.ListTaskDefinitionsInput{}); err != nil {
		t.Errorf("after RestoreOperations: %v", err)
	}
}
