package awsfake_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// runTaskFixture is a server with the clusters, providers and task
// definitions the RunTask rule cases refer to.
func runTaskFixture(t *testing.T) *env {
	e := newEnv(t, awsfake.Options{DisableThrottling: true})
	e.cluster(t, "c")
	e.s.AddCapacityProvider("my-asg")
	if _, err := e.ecs.PutClusterCapacityProviders(e.ctx, &ecs.PutClusterCapacityProvidersInput{
		Cluster: aws.String("c"), CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"},
		DefaultCapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{},
	}); err != nil {
		t.Fatal(err)
	}
	e.register(t, fargateTD("fg"))
	e.register(t, bridgeTD("br"))
	e.register(t, fargateTD("gone"))
	if _, err := e.ecs.DeregisterTaskDefinition(e.ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("gone:1")}); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestRunTaskRules(t *testing.T) {
	t.Parallel()
	e := runTaskFixture(t)
	longEnv := []ecstypes.KeyValuePair{{Name: aws.String("BIG"), Value: aws.String(strings.Repeat("x", 8200))}}
	tests := []struct {
		name     string
		mutate   func(*ecs.RunTaskInput)
		code     string
		contains string
	}{
		{"launch type with capacity provider strategy", func(in *ecs.RunTaskInput) {
			in.CapacityProviderStrategy = []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE"), Weight: 1}}
		}, "InvalidParameterException", "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again."},
		{"placement strategy on FARGATE", func(in *ecs.RunTaskInput) {
			in.PlacementStrategy = []ecstypes.PlacementStrategy{{Type: "spread", Field: aws.String("instanceId")}}
		}, "InvalidParameterException", "Placement strategies are not supported with FARGATE launch type."},
		{"placement constraint on FARGATE", func(in *ecs.RunTaskInput) {
			in.PlacementConstraints = []ecstypes.PlacementConstraint{{Type: "distinctInstance"}}
		}, "InvalidParameterException", "Placement constraints are not supported with FARGATE launch type."},
		{"placement constraint through a Fargate provider", func(in *ecs.RunTaskInput) {
			in.LaunchType = ""
			in.CapacityProviderStrategy = []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}
			in.PlacementConstraints = []ecstypes.PlacementConstraint{{Type: "distinctInstance"}}
		}, "InvalidParameterException", "Placement constraints are not supported with FARGATE launch type."},
		{"awsvpc without network configuration", func(in *ecs.RunTaskInput) { in.NetworkConfiguration = nil },
			"InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified."},
		{"awsvpc without subnets", func(in *ecs.RunTaskInput) { in.NetworkConfiguration.AwsvpcConfiguration.Subnets = []string{} },
			"InvalidParameterException", "subnets can not be empty."},
		{"unknown subnet", func(in *ecs.RunTaskInput) {
			in.NetworkConfiguration.AwsvpcConfiguration.Subnets = []string{"subnet-0000"}
		},
			"InvalidParameterException", "Error retrieving subnet information for [subnet-0000]"},
		{"unknown security group", func(in *ecs.RunTaskInput) {
			in.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups = []string{"sg-0000"}
		},
			"InvalidParameterException", "Error retrieving security group information for [sg-0000]"},
		{"network configuration for bridge", func(in *ecs.RunTaskInput) { in.TaskDefinition, in.LaunchType = aws.String("br"), "EC2" },
			"InvalidParameterException", "Network Configuration is not valid for the given networkMode of this task definition."},
		{"FARGATE for an EC2-only definition", func(in *ecs.RunTaskInput) { in.TaskDefinition, in.NetworkConfiguration = aws.String("br"), nil },
			"InvalidParameterException", "Task definition does not support launch_type FARGATE."},
		{"EXTERNAL for an awsvpc definition", func(in *ecs.RunTaskInput) { in.LaunchType = "EXTERNAL" },
			"InvalidParameterException", "Task definition does not support launch_type EXTERNAL."},
		{"unknown cluster", func(in *ecs.RunTaskInput) { in.Cluster = aws.String("nope") },
			"ClusterNotFoundException", "Cluster not found."},
		{"inactive task definition", func(in *ecs.RunTaskInput) { in.TaskDefinition = aws.String("gone:1") },
			"InvalidParameterException", "TaskDefinition is inactive"},
		{"unknown task definition", func(in *ecs.RunTaskInput) { in.TaskDefinition = aws.String("nope") },
			"InvalidParameterException", "TaskDefinition not found."},
		{"count 0", func(in *ecs.RunTaskInput) { in.Count = aws.Int32(0) }, "InvalidParameterException", "Count must be between 1 and 10."},
		{"count 11", func(in *ecs.RunTaskInput) { in.Count = aws.Int32(11) }, "InvalidParameterException", "Count must be between 1 and 10."},
		{"override for an unknown container", func(in *ecs.RunTaskInput) {
			in.Overrides = &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{Name: aws.String("worker")}}}
		}, "InvalidParameterException", "Override for container named worker is not a container in the TaskDefinition."},
		{"overrides over 8192 characters", func(in *ecs.RunTaskInput) {
			in.Overrides = &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{Name: aws.String("prefect"), Environment: longEnv}}}
		}, "InvalidParameterException", "Container Overrides length must be at most 8192"},
		{"51 tags", func(in *ecs.RunTaskInput) { in.Tags = manyTags(51) }, "InvalidParameterException", "maximum of 50"},
		{"aws: tag prefix", func(in *ecs.RunTaskInput) {
			in.Tags = []ecstypes.Tag{{Key: aws.String("aws:x"), Value: aws.String("v")}}
		}, "InvalidParameterException", "reserved"},
		{"public IP on EC2", func(in *ecs.RunTaskInput) {
			in.LaunchType = "EC2"
			in.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp = ecstypes.AssignPublicIpEnabled
		}, "InvalidParameterException", "Assign public IP is not supported for this launch type."},
		{"platform version on EC2", func(in *ecs.RunTaskInput) { in.LaunchType, in.PlatformVersion = "EC2", aws.String("1.4.0") },
			"InvalidParameterException", "The platform version must be null when specifying an EC2 launch type."},
		{"provider not associated with the cluster", func(in *ecs.RunTaskInput) {
			in.LaunchType = ""
			in.CapacityProviderStrategy = []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("my-asg"), Weight: 1}}
		}, "InvalidParameterException", "not associated with the cluster"},
		{"EC2 without container instances", func(in *ecs.RunTaskInput) { in.LaunchType = "EC2" },
			"InvalidParameterException", "No Container Instances were found in your cluster."},
		{"client token of 65 characters", func(in *ecs.RunTaskInput) { in.ClientToken = aws.String(strings.Repeat("t", 65)) },
			"InvalidParameterException", "clientToken"},
		{"Fargate overrides of an invalid size", func(in *ecs.RunTaskInput) {
			in.Overrides = &ecstypes.TaskOverride{Cpu: aws.String("256"), Memory: aws.String("8192")}
		}, "InvalidParameterException", "No Fargate configuration exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := e.fargateRun("c", "fg")
			tt.mutate(in)
			_, err := e.ecs.RunTask(e.ctx, in)
			if apiCode(err) != tt.code || !strings.Contains(apiMessage(err), tt.contains) {
				t.Errorf("got %v, want %s containing %q", err, tt.code, tt.contains)
			}
		})
	}
}

func TestRunTaskShape(t *testing.T) {
	t.Parallel()
	e := runTaskFixture(t)
	in := e.fargateRun("c", "fg")
	in.Count = aws.Int32(2)
	in.StartedBy = aws.String("prefect-worker")
	in.Tags = []ecstypes.Tag{{Key: aws.String("prefect.io/flow-run-id"), Value: aws.String("abc")}}
	in.Overrides = &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{
		Name: aws.String("prefect"), Command: []string{"prefect", "flow-run", "execute"},
	}}}
	out := e.run(t, in)
	if len(out.Tasks) != 2 || len(out.Failures) != 0 {
		t.Fatalf("RunTask = %+v", out)
	}
	task := out.Tasks[0]
	checks := map[string][2]string{
		"lastStatus":    {aws.ToString(task.LastStatus), "PROVISIONING"},
		"desiredStatus": {aws.ToString(task.DesiredStatus), "RUNNING"},
		"launchType":    {string(task.LaunchType), "FARGATE"},
		"group":         {aws.ToString(task.Group), "family:fg"},
		"startedBy":     {aws.ToString(task.StartedBy), "prefect-worker"},
		"cpu":           {aws.ToString(task.Cpu), "256"},
		"memory":        {aws.ToString(task.Memory), "512"},
		"platform":      {aws.ToString(task.PlatformVersion), "1.4.0"},
		"attachment":    {aws.ToString(task.Attachments[0].Type) + "/" + aws.ToString(task.Attachments[0].Status), "ElasticNetworkInterface/PRECREATED"},
		"container":     {aws.ToString(task.Containers[0].Name) + "/" + aws.ToString(task.Containers[0].LastStatus), "prefect/PENDING"},
		"tag":           {aws.ToString(task.Tags[0].Value), "abc"},
		"override":      {strings.Join(task.Overrides.ContainerOverrides[0].Command, " "), "prefect flow-run execute"},
	}
	for k, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", k, c[0], c[1])
		}
	}
	if !strings.HasPrefix(aws.ToString(task.TaskArn), "arn:aws:ecs:us-east-1:123456789012:task/c/") || task.CreatedAt == nil || task.Version != 1 {
		t.Errorf("task ARN %s createdAt %v version %d", aws.ToString(task.TaskArn), task.CreatedAt, task.Version)
	}

	// The cluster's default strategy applies when neither is given.
	if _, err := e.ecs.PutClusterCapacityProviders(e.ctx, &ecs.PutClusterCapacityProvidersInput{
		Cluster: aws.String("c"), CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"},
		DefaultCapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}},
	}); err != nil {
		t.Fatal(err)
	}
	in = e.fargateRun("c", "fg")
	in.LaunchType = ""
	spot := e.run(t, in).Tasks[0]
	if aws.ToString(spot.CapacityProviderName) != "FARGATE_SPOT" || spot.LaunchType != "FARGATE" {
		t.Errorf("default strategy: provider %s launch type %s", aws.ToString(spot.CapacityProviderName), spot.LaunchType)
	}
}

func TestRunTaskIdempotency(t *testing.T) {
	t.Parallel()
	e := runTaskFixture(t)
	in := e.fargateRun("c", "fg")
	in.ClientToken = aws.String("flow-run-1")
	first := e.run(t, in)
	again := e.run(t, in)
	if aws.ToString(first.Tasks[0].TaskArn) != aws.ToString(again.Tasks[0].TaskArn) {
		t.Errorf("same token, same parameters: %s then %s", aws.ToString(first.Tasks[0].TaskArn), aws.ToString(again.Tasks[0].TaskArn))
	}
	if n := len(e.s.Tasks()); n != 1 {
		t.Errorf("%d tasks started, want 1", n)
	}
	if got := e.s.Tasks()[0].ClientToken; got != "flow-run-1" {
		t.Errorf("TaskView.ClientToken = %q", got)
	}

	changed := e.fargateRun("c", "fg")
	changed.ClientToken = aws.String("flow-run-1")
	changed.StartedBy = aws.String("someone-else")
	_, err := e.ecs.RunTask(e.ctx, changed)
	var conflict *ecstypes.ConflictException
	if !errors.As(err, &conflict) || !slices.Equal(conflict.ResourceIds, []string{aws.ToString(first.Tasks[0].TaskArn)}) {
		t.Errorf("same token, other parameters = %v", err)
	}

	// Tokens are per cluster.
	e.cluster(t, "other")
	other := e.fargateRun("other", "fg")
	other.ClientToken = aws.String("flow-run-1")
	if out := e.run(t, other); aws.ToString(out.Tasks[0].TaskArn) == aws.ToString(first.Tasks[0].TaskArn) {
		t.Error("a token was shared across clusters")
	}

	// Without a token of its own the SDK makes one up per call.
	e.run(t, e.fargateRun("c", "fg"))
	e.run(t, e.fargateRun("c", "fg"))
	if n := len(e.s.Tasks()); n != 4 {
		t.Errorf("%d tasks, want 4", n)
	}
}

func TestRunTaskOnEC2(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{DisableThrottling: true})
	e.s.AddContainerInstances("ec2", 2, 1024, 1024)
	e.register(t, bridgeTD("br")) // 512 MiB

	in := &ecs.RunTaskInput{Cluster: aws.String("ec2"), TaskDefinition: aws.String("br"), LaunchType: "EC2", Count: aws.Int32(5),
		PlacementStrategy: []ecstypes.PlacementStrategy{{Type: "binpack", Field: aws.String("memory")}}}
	out := e.run(t, in)
	if len(out.Tasks) != 4 || len(out.Failures) != 2 {
		t.Fatalf("%d tasks, failures %+v", len(out.Tasks), out.Failures)
	}
	for _, f := range out.Failures {
		if aws.ToString(f.Reason) != "RESOURCE:MEMORY" || !strings.Contains(aws.ToString(f.Arn), ":container-instance/ec2/") {
			t.Errorf("failure = %s %s", aws.ToString(f.Arn), aws.ToString(f.Reason))
		}
	}
	if out.Tasks[0].ContainerInstanceArn == nil || out.Tasks[0].LaunchType != "EC2" || aws.ToString(out.Tasks[0].LastStatus) != "PENDING" {
		t.Errorf("EC2 task = %+v", out.Tasks[0])
	}

	e.s.AddContainerInstances("spread", 3, 1024, 4096)
	in = &ecs.RunTaskInput{Cluster: aws.String("spread"), TaskDefinition: aws.String("br"), LaunchType: "EC2", Count: aws.Int32(4),
		PlacementConstraints: []ecstypes.PlacementConstraint{{Type: "distinctInstance"}}}
	out = e.run(t, in)
	if len(out.Tasks) != 3 || len(out.Failures) != 3 || aws.ToString(out.Failures[0].Reason) != "DistinctInstance placement constraint unsatisfied." {
		t.Errorf("distinctInstance: %d tasks, failures %+v", len(out.Tasks), out.Failures)
	}
}

func TestDescribeListStopTasks(t *testing.T) {
	t.Parallel()
	e := runTaskFixture(t)
	var arns []string
	for i := range 3 {
		in := e.fargateRun("c", "fg")
		in.StartedBy = aws.String(fmt.Sprintf("worker-%d", i%2))
		arns = append(arns, aws.ToString(e.run(t, in).Tasks[0].TaskArn))
	}
	e.register(t, fargateTD("other"))
	e.run(t, e.fargateRun("c", "other"))

	id := arns[0][strings.LastIndex(arns[0], "/")+1:]
	d, err := e.ecs.DescribeTasks(e.ctx, &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: []string{id, "0123456789abcdef0123456789abcdef"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Tasks) != 1 || aws.ToString(d.Tasks[0].TaskArn) != arns[0] || d.Tasks[0].Tags != nil {
		t.Errorf("by ID: %+v", d.Tasks)
	}
	if len(d.Failures) != 1 || aws.ToString(d.Failures[0].Reason) != "MISSING" ||
		aws.ToString(d.Failures[0].Arn) != "arn:aws:ecs:us-east-1:123456789012:task/c/0123456789abcdef0123456789abcdef" {
		t.Errorf("unknown task: %+v", d.Failures)
	}
	_, err = e.ecs.DescribeTasks(e.ctx, &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: make([]string, 101)})
	if apiCode(err) != "InvalidParameterException" {
		t.Errorf("101 tasks = %v", err)
	}

	list := func(in *ecs.ListTasksInput) []string {
		t.Helper()
		in.Cluster = aws.String("c")
		var out []string
		p := ecs.NewListTasksPaginator(e.ecs, in)
		for p.HasMorePages() {
			pg, err := p.NextPage(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, pg.TaskArns...)
		}
		return out
	}
	if got := list(&ecs.ListTasksInput{MaxResults: aws.Int32(1)}); len(got) != 4 {
		t.Errorf("all running: %d", len(got))
	}
	if got := list(&ecs.ListTasksInput{Family: aws.String("fg")}); !slices.Equal(got, arns) {
		t.Errorf("family fg: %v", got)
	}
	if got := list(&ecs.ListTasksInput{StartedBy: aws.String("worker-1")}); !slices.Equal(got, arns[1:2]) {
		t.Errorf("startedBy worker-1: %v", got)
	}

	stop, err := e.ecs.StopTask(e.ctx, &ecs.StopTaskInput{Cluster: aws.String("c"), Task: aws.String(arns[0]), Reason: aws.String("flow run cancelled")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(stop.Task.DesiredStatus) != "STOPPED" || aws.ToString(stop.Task.StoppedReason) != "flow run cancelled" || stop.Task.StopCode != "UserInitiated" {
		t.Errorf("stopped task = %+v", stop.Task)
	}
	if got := list(&ecs.ListTasksInput{DesiredStatus: "STOPPED"}); !slices.Equal(got, arns[:1]) {
		t.Errorf("desiredStatus STOPPED: %v", got)
	}
	_, err = e.ecs.StopTask(e.ctx, &ecs.StopTaskInput{Cluster: aws.String("c"), Task: aws.String("0123")})
	if apiCode(err) != "InvalidParameterException" || apiMessage(err) != "The referenced task was not found." {
		t.Errorf("stopping an unknown task = %v", err)
	}
}
