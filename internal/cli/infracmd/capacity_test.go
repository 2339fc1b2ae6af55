package infracmd_test

import (
	"encoding/json"
	"strings"
	"testing"

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
