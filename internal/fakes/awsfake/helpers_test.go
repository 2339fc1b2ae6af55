package awsfake_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// env is a fake and real SDK clients pointed at it.
type env struct {
	s    *awsfake.Server
	ecs  *ecs.Client
	logs *cloudwatchlogs.Client
	sqs  *sqs.Client
	ec2  *ec2.Client
	sts  *sts.Client
	iam  *iam.Client
	ecr  *ecr.Client
	cfn  *cloudformation.Client
	ctx  context.Context
	// inProcess is set for bubble environments, so that as() keeps it.
	inProcess bool
}

// newEnv serves the fake over loopback HTTP, as a worker would reach it.
func newEnv(t *testing.T, opts awsfake.Options) *env {
	t.Helper()
	return clientsFor(t, awsfake.NewTestServer(t, opts), false)
}

// newBubbleEnv must run inside a synctest bubble: requests go straight to
// the handler, since synctest cannot see through sockets.
func newBubbleEnv(t *testing.T, opts awsfake.Options) *env {
	t.Helper()
	s := awsfake.New(opts)
	t.Cleanup(s.Close)
	return clientsFor(t, s, true)
}

func clientsFor(t *testing.T, s *awsfake.Server, inProcess bool) *env {
	return clientsWith(t, s, inProcess, credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""))
}

func clientsWith(t *testing.T, s *awsfake.Server, inProcess bool, creds aws.CredentialsProvider) *env {
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  creds,
		BaseEndpoint: aws.String(s.URL()),
	}
	if inProcess {
		cfg.HTTPClient = s.HTTPClient()
	}
	return &env{
		s:         s,
		ecs:       ecs.NewFromConfig(cfg),
		logs:      cloudwatchlogs.NewFromConfig(cfg),
		sqs:       sqs.NewFromConfig(cfg),
		ec2:       ec2.NewFromConfig(cfg),
		sts:       sts.NewFromConfig(cfg),
		iam:       iam.NewFromConfig(cfg),
		ecr:       ecr.NewFromConfig(cfg),
		cfn:       cloudformation.NewFromConfig(cfg),
		ctx:       t.Context(),
		inProcess: inProcess,
	}
}

// as is the same fake reached with the temporary credentials AssumeRole
// issued.
func (e *env) as(t *testing.T, c *ststypes.Credentials) *env {
	t.Helper()
	return clientsWith(t, e.s, e.inProcess, credentials.NewStaticCredentialsProvider(
		aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)))
}

// httpStatus is the HTTP status of the response that made err, or 0.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// apiCode is the AWS error code of err, or "" if it is not an API error.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

const testRole = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"

// fargateTD is a minimal valid Fargate task definition.
func fargateTD(family string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(family),
		NetworkMode:             ecstypes.NetworkModeAwsvpc,
		Cpu:                     aws.String("256"),
		Memory:                  aws.String("512"),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		ExecutionRoleArn:        aws.String(testRole),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name:  aws.String("prefect"),
			Image: aws.String("prefecthq/prefect:3-latest"),
		}},
	}
}

// bridgeTD is an EC2 task definition in the default network mode.
func bridgeTD(family string) *ecs.RegisterTaskDefinitionInput {
	return &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(family),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{
			Name:   aws.String("prefect"),
			Image:  aws.String("prefecthq/prefect:3-latest"),
			Memory: aws.Int32(512),
		}},
	}
}

func (e *env) register(t *testing.T, in *ecs.RegisterTaskDefinitionInput) *ecstypes.TaskDefinition {
	t.Helper()
	out, err := e.ecs.RegisterTaskDefinition(e.ctx, in)
	if err != nil {
		t.Fatalf("RegisterTaskDefinition(%s): %v", aws.ToString(in.Family), err)
	}
	return out.TaskDefinition
}

func (e *env) cluster(t *testing.T, name string) string {
	t.Helper()
	out, err := e.ecs.CreateCluster(e.ctx, &ecs.CreateClusterInput{ClusterName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Cluster.ClusterArn)
}

func (e *env) subnets() []string {
	_, subnets, _ := e.s.DefaultNetwork()
	return subnets
}

// fargateRun is a valid RunTask request for a Fargate task definition.
func (e *env) fargateRun(cluster, td string) *ecs.RunTaskInput {
	return &ecs.RunTaskInput{
		Cluster:        aws.String(cluster),
		TaskDefinition: aws.String(td),
		LaunchType:     ecstypes.LaunchTypeFargate,
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets: e.subnets(),
		}},
	}
}

func (e *env) run(t *testing.T, in *ecs.RunTaskInput) *ecs.RunTaskOutput {
	t.Helper()
	out, err := e.ecs.RunTask(e.ctx, in)
	if err != nil {
		t.Fatalf("RunTask: %v", err)
	}
	return out
}

func (e *env) describe(t *testing.T, cluster, taskArn string) ecstypes.Task {
	t.Helper()
	out, err := e.ecs.DescribeTasks(e.ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: []string{taskArn}, Include: []ecstypes.TaskField{ecstypes.TaskFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 1 {
		t.Fatalf("DescribeTasks(%s): failures %+v", taskArn, out.Failures)
	}
	return out.Tasks[0]
}
