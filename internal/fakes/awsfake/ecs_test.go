package awsfake_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

func TestClusters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{DisableThrottling: true})

	out, err := e.ecs.CreateCluster(e.ctx, &ecs.CreateClusterInput{
		ClusterName: aws.String("prod"),
		Tags:        []ecstypes.Tag{{Key: aws.String("team"), Value: aws.String("data")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Cluster.ClusterArn); got != "arn:aws:ecs:us-east-1:123456789012:cluster/prod" {
		t.Errorf("cluster ARN = %s", got)
	}
	// CreateCluster is idempotent on the name.
	again, err := e.ecs.CreateCluster(e.ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")})
	if err != nil || aws.ToString(again.Cluster.ClusterArn) != aws.ToString(out.Cluster.ClusterArn) {
		t.Fatalf("second CreateCluster = %v, %v", again, err)
	}
	def, err := e.ecs.CreateCluster(e.ctx, &ecs.CreateClusterInput{})
	if err != nil || aws.ToString(def.Cluster.ClusterName) != "default" {
		t.Fatalf("CreateCluster without a name = %v, %v", def, err)
	}

	desc, err := e.ecs.DescribeClusters(e.ctx, &ecs.DescribeClustersInput{
		Clusters: []string{"prod", "nope"}, Include: []ecstypes.ClusterField{ecstypes.ClusterFieldTags},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(desc.Clusters) != 1 || aws.ToString(desc.Clusters[0].Status) != "ACTIVE" || len(desc.Clusters[0].Tags) != 1 {
		t.Errorf("clusters = %+v", desc.Clusters)
	}
	if len(desc.Failures) != 1 || aws.ToString(desc.Failures[0].Reason) != "MISSING" ||
		aws.ToString(desc.Failures[0].Arn) != "arn:aws:ecs:us-east-1:123456789012:cluster/nope" {
		t.Errorf("failures = %+v", desc.Failures)
	}

	var names []string
	p := ecs.NewListClustersPaginator(e.ecs, &ecs.ListClustersInput{MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		pg, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, pg.ClusterArns...)
	}
	if len(names) != 2 {
		t.Errorf("ListClusters = %v", names)
	}

	if _, err := e.ecs.DeleteCluster(e.ctx, &ecs.DeleteClusterInput{Cluster: aws.String("default")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.ecs.DeleteCluster(e.ctx, &ecs.DeleteClusterInput{Cluster: aws.String("default")})
	var nf *ecstypes.ClusterNotFoundException
	if !errors.As(err, &nf) || nf.ErrorMessage() != "Cluster not found." {
		t.Errorf("deleting twice = %v", err)
	}
}

func TestCapacityProviders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{DisableThrottling: true})
	e.cluster(t, "c")
	asg := e.s.AddCapacityProvider("my-asg")

	_, err := e.ecs.PutClusterCapacityProviders(e.ctx, &ecs.PutClusterCapacityProvidersInput{
		Cluster:                         aws.String("c"),
		CapacityProviders:               []string{"FARGATE", "FARGATE_SPOT"},
		DefaultCapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.ecs.PutClusterCapacityProviders(e.ctx, &ecs.PutClusterCapacityProvidersInput{
		Cluster:                         aws.String("c"),
		CapacityProviders:               []string{"FARGATE"},
		DefaultCapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}},
	})
	if apiCode(err) != "InvalidParameterException" || !strings.Contains(apiMessage(err), "not associated with the cluster") {
		t.Errorf("strategy outside the cluster's providers = %v", err)
	}
	_, err = e.ecs.PutClusterCapacityProviders(e.ctx, &ecs.PutClusterCapacityProvidersInput{
		Cluster:                         aws.String("c"),
		CapacityProviders:               []string{"FARGATE", "my-asg"},
		DefaultCapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE"), Weight: 1}, {CapacityProvider: aws.String("my-asg"), Weight: 1}},
	})
	if apiCode(err) != "InvalidParameterException" || !strings.Contains(apiMessage(err), "mix of capacity providers") {
		t.Errorf("mixed strategy = %v", err)
	}

	d, err := e.ecs.DescribeClusters(e.ctx, &ecs.DescribeClustersInput{Clusters: []string{"c"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Clusters[0].CapacityProviders; !slices.Equal(got, []string{"FARGATE", "FARGATE_SPOT"}) {
		t.Errorf("capacity providers = %v", got)
	}

	cp, err := e.ecs.DescribeCapacityProviders(e.ctx, &ecs.DescribeCapacityProvidersInput{CapacityProviders: []string{"FARGATE", asg, "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cp.CapacityProviders) != 2 || cp.CapacityProviders[1].AutoScalingGroupProvider == nil || len(cp.Failures) != 1 {
		t.Errorf("DescribeCapacityProviders = %+v", cp)
	}
}

func TestRegisterTaskDefinitionDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{DisableThrottling: true})
	in := fargateTD("flow")
	in.Cpu, in.Memory = aws.String("1 vCPU"), aws.String("2 GB")
	in.ContainerDefinitions[0].PortMappings = []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}}
	in.ContainerDefinitions[0].LogConfiguration = &ecstypes.LogConfiguration{LogDriver: ecstypes.LogDriverAwslogs,
		Options: map[string]string{"awslogs-group": "/ecs/flow", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "prefect"}}
	in.Tags = []ecstypes.Tag{{Key: aws.String("owner"), Value: aws.String("me")}}

	td := e.register(t, in)
	if aws.ToString(td.TaskDefinitionArn) != "arn:aws:ecs:us-east-1:123456789012:task-definition/flow:1" || td.Revision != 1 {
		t.Errorf("ARN %s revision %d", aws.ToString(td.TaskDefinitionArn), td.Revision)
	}
	if td.Status != ecstypes.TaskDefinitionStatusActive || td.RegisteredAt == nil || aws.ToString(td.RegisteredBy) == "" {
		t.Errorf("status %s registeredAt %v by %v", td.Status, td.RegisteredAt, td.RegisteredBy)
	}
	if aws.ToString(td.Cpu) != "1024" || aws.ToString(td.Memory) != "2048" {
		t.Errorf("cpu/memory not normalized: %s/%s", aws.ToString(td.Cpu), aws.ToString(td.Memory))
	}
	if !slices.Equal(td.Compatibilities, []ecstypes.Compatibility{"EC2", "FARGATE"}) {
		t.Errorf("compatibilities = %v", td.Compatibilities)
	}
	var attrs []string
	for _, a := range td.RequiresAttributes {
		attrs = append(attrs, aws.ToString(a.Name))
	}
	for _, want := range []string{"ecs.capability.task-eni", "com.amazonaws.ecs.capability.logging-driver.awslogs", "ecs.capability.execution-role-awslogs"} {
		if !slices.Contains(attrs, want) {
			t.Errorf("requiresAttributes %v lacks %s", attrs, want)
		}
	}
	c := td.ContainerDefinitions[0]
	if !aws.ToBool(c.Essential) || c.Cpu != 0 {
		t.Errorf("container defaults: essential %v cpu %d", c.Essential, c.Cpu)
	}
	if pm := c.PortMappings[0]; aws.ToInt32(pm.HostPort) != 8080 || pm.Protocol != ecstypes.TransportProtocolTcp {
		t.Errorf("port mapping defaults = %+v", pm)
	}

	// What the worker compares against: the raw JSON, with ECS's empty lists.
	views := e.s.TaskDefinitions()
	var raw map[string]any
	if err := json.Unmarshal(views[0].JSON, &raw); err != nil {
		t.Fatal(err)
	}
	cd := raw["containerDefinitions"].([]any)[0].(map[string]any)
	for _, k := range []string{"environment", "mountPoints", "volumesFrom", "systemControls"} {
		if l, ok := cd[k].([]any); !ok || len(l) != 0 {
			t.Errorf("containerDefinitions[0].%s = %v, want []", k, cd[k])
		}
	}
	if cd["cpu"] != float64(0) || cd["essential"] != true {
		t.Errorf("cpu %v essential %v", cd["cpu"], cd["essential"])
	}
	for _, k := range []string{"volumes", "placementConstraints"} {
		if l, ok := raw[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %v, want []", k, raw[k])
		}
	}
	if views[0].Tags["owner"] != "me" {
		t.Errorf("view tags = %v", views[0].Tags)
	}

	// Revisions count up per family, and "family" means the latest ACTIVE.
	e.register(t, fargateTD("flow"))
	e.register(t, fargateTD("flow"))
	if _, err := e.ecs.DeregisterTaskDefinition(e.ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("flow:3")}); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]int32{
		"flow": 2, "flow:3": 3, "flow:1": 1, "arn:aws:ecs:us-east-1:123456789012:task-definition/flow:2": 2,
	} {
		d, err := e.ecs.DescribeTaskDefinition(e.ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
		if err != nil {
			t.Fatalf("DescribeTaskDefinition(%s): %v", ref, err)
		}
		if d.TaskDefinition.Revision != want {
			t.Errorf("%s resolved to revision %d, want %d", ref, d.TaskDefinition.Revision, want)
		}
		if ref == "flow:1" && (len(d.Tags) != 1 || aws.ToString(d.Tags[0].Key) != "owner") {
			t.Errorf("TAGS of flow:1 = %+v", d.Tags)
		}
		if ref == "flow:3" && (d.TaskDefinition.Status != "INACTIVE" || d.TaskDefinition.DeregisteredAt == nil) {
			t.Errorf("flow:3 after deregistration: %s", d.TaskDefinition.Status)
		}
	}
	_, err := e.ecs.DescribeTaskDefinition(e.ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("nope")})
	if apiCode(err) != "ClientException" || apiMessage(err) != "Unable to describe task definition." {
		t.Errorf("unknown family = %v", err)
	}
	_, err = e.ecs.DeregisterTaskDefinition(e.ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("flow")})
	if apiCode(err) != "ClientException" {
		t.Errorf("deregister without revision = %v", err)
	}

	// A bridge definition has no FARGATE compatibility but EXTERNAL.
	b := e.register(t, bridgeTD("bridge"))
	if !slices.Equal(b.Compatibilities, []ecstypes.Compatibility{"EXTERNAL", "EC2"}) {
		t.Errorf("bridge compatibilities = %v", b.Compatibilities)
	}
}

func TestRegisterTaskDefinitionRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mutate   func(*ecs.RegisterTaskDefinitionInput)
		code     string
		contains string
	}{
		{"family with invalid characters", func(in *ecs.RegisterTaskDefinitionInput) { in.Family = aws.String("my flow!") },
			"ClientException", "Family contains invalid characters"},
		{"family too long", func(in *ecs.RegisterTaskDefinitionInput) { in.Family = aws.String(strings.Repeat("f", 256)) },
			"ClientException", "Family contains invalid characters"},
		{"container name with invalid characters", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[0].Name = aws.String("a.b") },
			"ClientException", "Container name 'a.b' is invalid"},
		{"duplicate container names", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions = append(in.ContainerDefinitions, in.ContainerDefinitions[0])
		}, "ClientException", "Duplicate container name"},
		{"image missing", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[0].Image = nil },
			"ClientException", "Container.image should not be null or empty."},
		{"no essential container", func(in *ecs.RegisterTaskDefinitionInput) { in.ContainerDefinitions[0].Essential = aws.Bool(false) },
			"ClientException", "at least one essential container"},
		{"secrets without execution role", func(in *ecs.RegisterTaskDefinitionInput) {
			in.RequiresCompatibilities, in.ExecutionRoleArn = nil, nil
			in.ContainerDefinitions[0].Secrets = []ecstypes.Secret{{Name: aws.String("KEY"), ValueFrom: aws.String("arn:aws:ssm:us-east-1:123456789012:parameter/key")}}
		}, "ClientException", "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."},
		{"Fargate in bridge mode", func(in *ecs.RegisterTaskDefinitionInput) { in.NetworkMode = ecstypes.NetworkModeBridge },
			"ClientException", "Fargate only supports network mode ‘awsvpc’."},
		{"Fargate without task cpu", func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu = nil },
			"ClientException", "Fargate requires that 'cpu' be defined at the task level."},
		{"Fargate without task memory", func(in *ecs.RegisterTaskDefinitionInput) { in.Memory = nil },
			"ClientException", "Fargate requires that 'memory' be defined at the task level."},
		{"Fargate 256 CPU with 4096 MiB", func(in *ecs.RegisterTaskDefinitionInput) { in.Memory = aws.String("4096") },
			"ClientException", "No Fargate configuration exists for given values: 256 CPU, 4096 memory."},
		{"Fargate 16384 CPU with 32769 MiB", func(in *ecs.RegisterTaskDefinitionInput) {
			in.Cpu, in.Memory = aws.String("16384"), aws.String("32769")
		},
			"ClientException", "No Fargate configuration exists"},
		{"Fargate 8192 CPU with 8192 MiB", func(in *ecs.RegisterTaskDefinitionInput) { in.Cpu, in.Memory = aws.String("8192"), aws.String("8192") },
			"ClientException", "No Fargate configuration exists"},
		{"Fargate awslogs without execution role", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ExecutionRoleArn = nil
			in.ContainerDefinitions[0].LogConfiguration = &ecstypes.LogConfiguration{LogDriver: "awslogs", Options: map[string]string{"awslogs-group": "g"}}
		}, "ClientException", "Fargate requires task definition to have execution role ARN to support log driver awslogs."},
		{"ephemeral storage too small", func(in *ecs.RegisterTaskDefinitionInput) {
			in.EphemeralStorage = &ecstypes.EphemeralStorage{SizeInGiB: 20}
		}, "ClientException", "between 21 and 200"},
		{"ephemeral storage too large", func(in *ecs.RegisterTaskDefinitionInput) {
			in.EphemeralStorage = &ecstypes.EphemeralStorage{SizeInGiB: 201}
		}, "ClientException", "between 21 and 200"},
		{"container without memory and no task memory", func(in *ecs.RegisterTaskDefinitionInput) {
			in.RequiresCompatibilities, in.Memory, in.Cpu = nil, nil, nil
		}, "ClientException", "At least one of 'memory' or 'memoryReservation' must be specified."},
		{"awsvpc host port differs", func(in *ecs.RegisterTaskDefinitionInput) {
			in.ContainerDefinitions[0].PortMappings = []ecstypes.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(81)}}
		}, "ClientException", "When networkMode=awsvpc, the host ports and container ports in port mappings must match."},
		{"51 tags", func(in *ecs.RegisterTaskDefinitionInput) { in.Tags = manyTags(51) },
			"InvalidParameterException", "maximum of 50"},
		{"tag key of 129 characters", func(in *ecs.RegisterTaskDefinitionInput) {
			in.Tags = []ecstypes.Tag{{Key: aws.String(strings.Repeat("k", 129)), Value: aws.String("v")}}
		}, "InvalidParameterException", "1 to 128 characters"},
		{"tag value of 257 characters", func(in *ecs.RegisterTaskDefinitionInput) {
			in.Tags = []ecstypes.Tag{{Key: aws.String("k"), Value: aws.String(strings.Repeat("v", 257))}}
		}, "InvalidParameterException", "at most 256 characters"},
		{"aws: tag prefix", func(in *ecs.RegisterTaskDefinitionInput) {
			in.Tags = []ecstypes.Tag{{Key: aws.String("AWS:owner"), Value: aws.String("v")}}
		}, "InvalidParameterException", "reserved"},
	}
	e := newEnv(t, awsfake.Options{DisableThrottling: true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := fargateTD("rules")
			tt.mutate(in)
			_, err := e.ecs.RegisterTaskDefinition(e.ctx, in)
			if apiCode(err) != tt.code || !strings.Contains(apiMessage(err), tt.contains) {
				t.Errorf("got %v, want %s containing %q", err, tt.code, tt.contains)
			}
		})
	}
}

func manyTags(n int) []ecstypes.Tag {
	var tags []ecstypes.Tag
	for i := range n {
		tags = append(tags, ecstypes.Tag{Key: aws.String("k" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)), Value: aws.String("v")})
	}
	return tags
}

func TestListTaskDefinitions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{DisableThrottling: true})
	for range 5 {
		e.register(t, fargateTD("alpha"))
	}
	for range 3 {
		e.register(t, fargateTD("beta"))
	}
	e.register(t, fargateTD("alphabet"))
	if _, err := e.ecs.DeregisterTaskDefinition(e.ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String("beta:2")}); err != nil {
		t.Fatal(err)
	}

	list := func(in *ecs.ListTaskDefinitionsInput) []string {
		t.Helper()
		var arns []string
		p := ecs.NewListTaskDefinitionsPaginator(e.ecs, in)
		pages := 0
		for p.HasMorePages() {
			pg, err := p.NextPage(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			arns = append(arns, pg.TaskDefinitionArns...)
		}
		if in.MaxResults != nil && pages < len(arns)/int(*in.MaxResults) {
			t.Errorf("%d pages for %d items of %d", pages, len(arns), *in.MaxResults)
		}
		for i, a := range arns {
			arns[i] = a[strings.LastIndex(a, "/")+1:]
		}
		return arns
	}
	tests := []struct {
		name string
		in   *ecs.ListTaskDefinitionsInput
		want []string
	}{
		{"all active, paged by 2", &ecs.ListTaskDefinitionsInput{MaxResults: aws.Int32(2)},
			[]string{"alpha:1", "alpha:2", "alpha:3", "alpha:4", "alpha:5", "alphabet:1", "beta:1", "beta:3"}},
		{"one family (familyPrefix is the exact family)", &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("alpha")},
			[]string{"alpha:1", "alpha:2", "alpha:3", "alpha:4", "alpha:5"}},
		{"newest first", &ecs.ListTaskDefinitionsInput{FamilyPrefix: aws.String("beta"), Sort: ecstypes.SortOrderDesc},
			[]string{"beta:3", "beta:1"}},
		{"inactive", &ecs.ListTaskDefinitionsInput{Status: ecstypes.TaskDefinitionStatusInactive}, []string{"beta:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := list(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	fams, err := e.ecs.ListTaskDefinitionFamilies(e.ctx, &ecs.ListTaskDefinitionFamiliesInput{FamilyPrefix: aws.String("alp")})
	if err != nil || !slices.Equal(fams.Families, []string{"alpha", "alphabet"}) {
		t.Errorf("families = %v, %v", fams, err)
	}
	_, err = e.ecs.ListTaskDefinitions(e.ctx, &ecs.ListTaskDefinitionsInput{NextToken: aws.String("forged")})
	if apiCode(err) != "InvalidParameterException" {
		t.Errorf("forged token = %v", err)
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{DisableThrottling: true})
	clusterArn := e.cluster(t, "c")
	td := e.register(t, fargateTD("f"))
	task := e.run(t, e.fargateRun("c", "f")).Tasks[0]

	for _, arn := range []string{clusterArn, aws.ToString(td.TaskDefinitionArn), aws.ToString(task.TaskArn)} {
		if _, err := e.ecs.TagResource(e.ctx, &ecs.TagResourceInput{ResourceArn: aws.String(arn),
			Tags: []ecstypes.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("2")}}}); err != nil {
			t.Fatalf("TagResource(%s): %v", arn, err)
		}
		if _, err := e.ecs.UntagResource(e.ctx, &ecs.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
		out, err := e.ecs.ListTagsForResource(e.ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
		if err != nil || len(out.Tags) != 1 || aws.ToString(out.Tags[0].Key) != "b" {
			t.Errorf("tags of %s = %+v, %v", arn, out, err)
		}
	}
	_, err := e.ecs.TagResource(e.ctx, &ecs.TagResourceInput{ResourceArn: aws.String(clusterArn), Tags: manyTags(50)})
	if apiCode(err) != "InvalidParameterException" {
		t.Errorf("51st tag = %v", err)
	}
	_, err = e.ecs.ListTagsForResource(e.ctx, &ecs.ListTagsForResourceInput{ResourceArn: aws.String(clusterArn + "x")})
	if apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("unknown resource = %v", err)
	}
	if e.s.Tasks()[0].Tags["b"] != "2" {
		t.Errorf("TaskView tags = %v", e.s.Tasks()[0].Tags)
	}
}
