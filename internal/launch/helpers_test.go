package launch_test

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/taskdef"
)

// newLauncher is a Launcher of w's clients whose waits take no time: they
// are recorded in rec (nil: not kept) and, on a fake clock, move it.
func newLauncher(w *awsclienttest.World, rec *awsclienttest.Sleeps, opts launch.Options) *launch.Launcher {
	if rec == nil {
		rec = &awsclienttest.Sleeps{}
	}
	opts.Sleep = w.Sleep(rec)
	if w.Clock != nil {
		opts.Clock = w.Clock.Now
	}
	tds := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{Sleep: opts.Sleep, Clock: opts.Clock})
	return launch.NewLauncher(w.Clients, tds, opts)
}

// fargateTD is a prepared Fargate task definition of family.
func fargateTD(family, image string) *jsonv.Object {
	return jsonv.ObjectOf(
		"containerDefinitions", []any{jsonv.ObjectOf("name", "prefect", "image", image)},
		"family", family, "cpu", "1024", "memory", "2048",
		"requiresCompatibilities", []any{"FARGATE"}, "networkMode", "awsvpc",
	)
}

// fargatePlan is the plan ecsjob makes for a Fargate flow run of a
// deployment, with the subnets of the default VPC to infer.
func fargatePlan(family, cluster, flowRunID string) *ecsrequest.Plan {
	rt := jsonv.ObjectOf(
		"launchType", "FARGATE",
		"overrides", jsonv.ObjectOf("containerOverrides", []any{jsonv.ObjectOf(
			"name", "prefect", "command", []any{"prefect", "flow-run", "execute"},
			"environment", []any{jsonv.ObjectOf("name", "PREFECT__FLOW_RUN_ID", "value", flowRunID)})}),
		"taskDefinition", ecsrequest.MarkTaskDefinitionARN,
		"tags", []any{jsonv.ObjectOf("key", "prefect.io/flow-run-id", "value", flowRunID)},
		"networkConfiguration", jsonv.ObjectOf("awsvpcConfiguration", jsonv.ObjectOf(
			"subnets", []any{ecsrequest.MarkSubnets}, "assignPublicIp", "ENABLED")),
	)
	if cluster != "" {
		rt.Set("cluster", cluster)
	}
	return &ecsrequest.Plan{
		TaskDefinition: fargateTD(family, "prefecthq/prefect:3-latest"),
		RunTask:        rt,
		Launch:         ecsrequest.LaunchFargate,
		ContainerName:  "prefect",
		Cluster:        cluster,
		Network:        &ecsrequest.NetworkPlan{Infer: true, AssignPublicIP: "ENABLED"},
	}
}

// noVPCs is an EC2 API in a region without a default VPC.
type noVPCs struct{ awsclient.EC2API }

func (noVPCs) DescribeVpcs(context.Context, *ec2.DescribeVpcsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error) {
	return &ec2.DescribeVpcsOutput{}, nil
}
