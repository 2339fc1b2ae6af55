package infra_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/cfnstack"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	goldenfile "github.com/ecsworker/ecsworker/internal/golden"
	"github.com/ecsworker/ecsworker/internal/infra"
)

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, "./internal/infra", name, got)
}

// fakeAWS is the AWS test server with SDK clients that reach it in
// process, for use inside a synctest bubble (where the deployer's waits
// and the server's clock are both virtual).
func fakeAWS(t *testing.T) (*awsfake.Server, *infra.Clients) {
	t.Helper()
	s, cfg := awsclienttest.InProcess(t, awsfake.Options{})
	return s, &infra.Clients{
		CFN: cloudformation.NewFromConfig(cfg), ECS: ecs.NewFromConfig(cfg),
		EC2: ec2.NewFromConfig(cfg), STS: sts.NewFromConfig(cfg), Region: "us-east-1",
	}
}

// deployService deploys the service stack of cfg on the AWS test server
// and waits for it, returning the stack as the server holds it.
func deployService(t *testing.T, s *awsfake.Server, c *infra.Clients, cfg infra.ServiceConfig) awsfake.StackView {
	t.Helper()
	body, err := infra.Body(cfnstack.KindService, cfg.Image)
	if err != nil {
		t.Fatal(err)
	}
	d := &cfnstack.Deployer{CFN: c.CFN, Region: c.Region}
	if _, err := d.Deploy(ctxOf(t), cfnstack.DeployInput{StackName: cfg.StackName, Kind: cfnstack.KindService, Template: body,
		Parameters: cfg.Parameters(), Tags: cfnstack.Tags(cfnstack.KindService, cfg.WorkPool), Wait: true}); err != nil {
		t.Fatal(err)
	}
	v, _ := s.Stack(cfg.StackName)
	return v
}

// network returns the fake's default VPC and two of its subnets.
func network(s *awsfake.Server) (string, []string) {
	vpc, subnets, _ := s.DefaultNetwork()
	return vpc, subnets[:2]
}

func serviceConfig(s *awsfake.Server, pool string) infra.ServiceConfig {
	vpc, subnets := network(s)
	return infra.ServiceConfig{
		StackName: infra.DefaultStackName(pool, cfnstack.KindService), WorkPool: pool,
		ClusterArn: s.CreateCluster("prod"), VpcID: vpc, SubnetIDs: subnets,
		Image: "ghcr.io/ecsworker/ecsworker:v1.0.0", APIURL: "https://api.prefect.cloud/api/accounts/a/workspaces/w",
		APIKey: "pnu_test_key_123", CPU: 512, Memory: 1024, CPUArchitecture: "X86_64",
		DesiredCount: 1, MinCapacity: 1, LogRetentionDays: 30, FlowRunLogGroup: "prefect",
		FamilyPattern: infra.DefaultFamilyPattern(pool), CrashAlarmThreshold: 5, SubmissionLatencyAlarmSeconds: 60,
	}
}

func ctxOf(t *testing.T) context.Context { return t.Context() }
