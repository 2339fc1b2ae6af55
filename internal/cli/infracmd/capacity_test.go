package infracmd_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecsworker/ecsworker/internal/cli/clitest"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

func (e *infraTestEnv) capacityArgs(extra ...string) []string {
	return append([]string{"infra", "deploy-capacity", "--cluster", "prod", "--subnets", strings.Join(e.subnets, ","),
		"--warm-pool-size", "2", "--max-size", "4", "--prepull-image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:v3"}, extra...)
}

func TestInfraCapacityLifecycle(t *testing.T) {
	e := newInfraEnv(t, prefectfake.Options{APIKey: infraTestKey})
	if err := e.aws.SetClusterCapacityProviders("prod", []string{"FARGATE", "FARGATE_SPOT"}, awsfake.CapacityProviderStrategyItem{CapacityProvider: "FARGATE", Weight: 1}); err != nil {
		t.Fatal(err)
	}

	r := runInfra(t, "", e.capacityArgs("--dry-run", "--json")...)
	if r.Code != 0 {
		t.Fatalf("dry run: exit %d\n%s", r.Code, r.Stderr)
	}
	var dry map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &dry); err != nil {
		t.Fatalf("dry run JSON: %v\n%s", err, r.Stdout)
	}
	params, _ := dry["parameters"].(map[string]any)
	if dry["action"] != "create" || dry["type"] != "capacity" || params["CapacityProviderName"] != "prefect-ec2-prod" || params["PrepullFromEcr"] != "true" {
		t.Errorf("dry run: %s", r.Stdout)
	}
	clitest.MustContain(t, "stderr", r.Stderr, "keeping its capacity providers (FARGATE, FARGATE_SPOT) and default strategy (FARGATE weight 1)")
	if _, ok := e.aws.Stack("ecsworker-capacity-prod"); ok {
		t.Fatal("the dry run created the stack")
	}

	r = runInfra(t, "", e.capacityArgs()...)
	if r.Code != 0 {
		t.Fatalf("deploy: exit %d\n%s", r.Code, r.Stderr)
	}
	clitest.MustContain(t, "stderr", r.Stderr,
		"CREATE_COMPLETE              CapacityProvider (AWS::ECS::CapacityProvider)",
		"Stack ecsworker-capacity-prod: create complete (CREATE_COMPLETE)",
		`{"capacity_provider_strategy":[{"capacityProvider":"prefect-ec2-prod","weight":1}],"launch_type":null}`,
		"bridge network mode")
	v, _ := e.aws.Stack("ecsworker-capacity-prod")
	lt, _ := v.Resource("LaunchTemplate")
	props, _ := lt.Properties.(map[string]any)
	data, _ := props["LaunchTemplateData"].(map[string]any)
	if data["ImageId"] != awsfake.FakeECSAMI {
		t.Errorf("the launch template's AMI is %v, not the SSM parameter's %s", data["ImageId"], awsfake.FakeECSAMI)
	}
	if _, ok := v.Resource("WarmPool"); !ok {
		t.Error("no warm pool")
	}
	if _, ok := v.Resource("PrepullPolicy"); !ok {
		t.Error("an ECR image is pre-pulled, but the instance role may not read ECR")
	}

	// The cluster kept its providers and default strategy.
	providers, strategy := e.aws.ClusterCapacityProviders("prod")
	if got := strings.Join(providers, ","); got != "FARGATE,FARGATE_SPOT,prefect-ec2-prod" || strings.Join(strategy, ",") != "FARGATE" {
		t.Errorf("cluster after deploy: providers %s, default %v", got, strategy)
	}

	r = runInfra(t, "", e.capacityArgs()...)
	clitest.MustContain(t, "stderr", r.Stderr, "No changes: stack ecsworker-capacity-prod is already as asked.")

	r = runInfra(t, "", "infra", "list")
	clitest.MustContain(t, "stdout", r.Stdout, "ecsworker-capacity-prod", "capacity", "(cluster prod)")
	r = runInfra(t, "", "infra", "status", "ecsworker-capacity-prod")
	clitest.MustContain(t, "stdout", r.Stdout, "Cluster:", "JobVariables", "prefect-ec2-prod")

	r = runInfra(t, "", "infra", "delete", "ecsworker-capacity-prod", "--yes")
	if r.Code != 0 {
		t.Fatalf("delete: exit %d\n%s", r.Code, r.Stderr)
	}
	clitest.MustContain(t, "stderr", r.Stderr, "Capacity provider prefect-ec2-prod is gone")
}

func TestInfraCapacityBadInput(t *testing.T) {
	e := newInfraEnv(t, prefectfake.Options{APIKey: infraTestKey})
	sub := strings.Join(e.subnets, ",")
	for name, tc := range map[string]struct {
		args []string
		code int
		want string
	}{
		"no cluster":        {[]string{"infra", "deploy-capacity", "--subnets", sub}, 2, "--cluster is required"},
		"no such cluster":   {[]string{"infra", "deploy-capacity", "--cluster", "nope", "--subnets", sub}, 1, "--cluster nope: no such ECS cluster"},
		"reserved name":     {[]string{"infra", "deploy-capacity", "--cluster", "prod", "--subnets", sub, "--capacity-provider-name", "ecs-warm"}, 2, "ECS refuses capacity provider names starting with aws, ecs or fargate"},
		"warm pool too big": {[]string{"infra", "deploy-capacity", "--cluster", "prod", "--subnets", sub, "--warm-pool-size", "5", "--max-size", "3"}, 2, "--warm-pool-size 5 is bigger than --max-size 3"},
		"two types":         {[]string{"infra", "deploy-capacity", "--cluster", "prod", "--subnets", sub, "--instance-types", "m7i.large,c7i.large"}, 2, "a warm pool serves one instance type"},
		"arm on x86 type":   {[]string{"infra", "deploy-capacity", "--cluster", "prod", "--subnets", sub, "--cpu-architecture", "ARM64"}, 2, "not a Graviton (ARM64) type"},
		"no subnets":        {[]string{"infra", "deploy-capacity", "--cluster", "prod"}, 2, "--subnets is required"},
	} {
		t.Run(name, func(t *testing.T) {
			r := runInfra(t, "", tc.args...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", r.Code, tc.code, tc.want, r.Stderr)
			}
		})
	}
}

func TestExportCapacityTemplate(t *testing.T) {
	r := runInfra(t, "", "infra", "export-template", "--type", "capacity")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s", r.Code, r.Stderr)
	}
	clitest.MustContain(t, "stdout", r.Stdout, "AWS::ECS::ClusterCapacityProviderAssociations", "ECS_IMAGE_PULL_BEHAVIOR=prefer-cached", "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>")
}

// TestInfraCapacityPreflightDenied: the checks deploy-capacity makes
// itself stop it, with the refused action named, before any change set.
func TestInfraCapacityPreflightDenied(t *testing.T) {
	for _, action := range []string{"ecs:DescribeClusters", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"} {
		t.Run(action, func(t *testing.T) {
			e := newInfraEnv(t, prefectfake.Options{APIKey: infraTestKey})
			sg := e.aws.AddSecurityGroup(e.vpc, "instances")
			policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"` + action + `","Resource":"*"}]}`
			if err := e.aws.SetIdentityPolicy("", policy); err != nil {
				t.Fatal(err)
			}
			r := runInfra(t, "", e.capacityArgs("--security-groups", sg)...)
			if r.Code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", r.Code, r.Stderr)
			}
			clitest.MustContain(t, "stderr", r.Stderr, action)
			if _, ok := e.aws.Stack("ecsworker-capacity-prod"); ok {
				t.Error("a stack was created although a check was refused")
			}
		})
	}
}

// TestInfraCapacityRunsTasks: after deploy-capacity, a task whose
// strategy names the new provider (the job variables it prints) is
// accepted by ECS. The group starts empty, so the task waits in
// PROVISIONING for managed scaling to start an instance, then runs; the
// fake does not model the instance itself. Before the deploy, and after
// the delete, ECS refuses the strategy.
func TestInfraCapacityRunsTasks(t *testing.T) {
	e := newInfraEnv(t, prefectfake.Options{APIKey: infraTestKey})
	ctx := t.Context()
	c := ecs.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(e.aws.URL()),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	td, err := c.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String("flow"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("prefect"), Image: aws.String("prefecthq/prefect:3-latest"), Memory: aws.Int32(512)}}})
	if err != nil {
		t.Fatal(err)
	}
	run := func() (*ecs.RunTaskOutput, error) {
		return c.RunTask(ctx, &ecs.RunTaskInput{Cluster: aws.String("prod"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn,
			CapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("prefect-ec2-prod"), Weight: 1}}})
	}
	const notInCluster = "cannot contain a capacity provider that is not associated with the cluster"
	if _, err := run(); err == nil || !strings.Contains(err.Error(), notInCluster) {
		t.Errorf("RunTask before the deploy: %v, want %q", err, notInCluster)
	}

	if r := runInfra(t, "", e.capacityArgs()...); r.Code != 0 {
		t.Fatalf("deploy: exit %d\n%s", r.Code, r.Stderr)
	}
	out, err := run()
	if err != nil || len(out.Tasks) != 1 {
		t.Fatalf("RunTask on the new provider: %v %+v", err, out)
	}
	task := out.Tasks[0]
	if aws.ToString(task.CapacityProviderName) != "prefect-ec2-prod" || task.LaunchType != ecstypes.LaunchTypeEc2 || aws.ToString(task.LastStatus) != "PROVISIONING" {
		t.Errorf("task: provider %s, launch type %s, status %s; want prefect-ec2-prod, EC2, PROVISIONING",
			aws.ToString(task.CapacityProviderName), task.LaunchType, aws.ToString(task.LastStatus))
	}
	status := func() string {
		d, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: []string{aws.ToString(task.TaskArn)}})
		if err != nil || len(d.Tasks) != 1 {
			t.Fatalf("DescribeTasks: %v %+v", err, d)
		}
		return aws.ToString(d.Tasks[0].LastStatus)
	}
	// awsfake's default outcome: RUNNING 30 s after RunTask, the first
	// third PROVISIONING.
	for _, want := range []string{"PENDING", "RUNNING"} {
		e.clk.Advance(15 * time.Second)
		if got := status(); got != want {
			t.Errorf("after %s: %s, want %s", 15*time.Second, got, want)
		}
	}

	if r := runInfra(t, "", "infra", "delete", "ecsworker-capacity-prod", "--yes"); r.Code != 0 {
		t.Fatalf("delete: exit %d\n%s", r.Code, r.Stderr)
	}
	if _, err := run(); err == nil || !strings.Contains(err.Error(), notInCluster) {
		t.Errorf("RunTask after the delete: %v, want %q", err, notInCluster)
	}
}
