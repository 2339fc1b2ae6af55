package doctor

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/doctor/netcheck"
)

// The AWS calls doctor makes, each read-only. The aws-sdk-go-v2 clients
// satisfy these interfaces; tests point them at the AWS test server.

// STSAPI tells whose the credentials are.
type STSAPI interface {
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// ECSAPI reads the jobs' clusters.
type ECSAPI interface {
	DescribeClusters(context.Context, *ecs.DescribeClustersInput, ...func(*ecs.Options)) (*ecs.DescribeClustersOutput, error)
}

// EC2API reads the tasks' network.
type EC2API = netcheck.EC2API

// IAMAPI reads the tasks' roles and simulates the worker's permissions.
type IAMAPI interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	SimulatePrincipalPolicy(context.Context, *iam.SimulatePrincipalPolicyInput, ...func(*iam.Options)) (*iam.SimulatePrincipalPolicyOutput, error)
}

// ECRAPI looks the tasks' images up.
type ECRAPI interface {
	DescribeImages(context.Context, *ecr.DescribeImagesInput, ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error)
}

// LogsAPI looks the tasks' log groups up.
type LogsAPI interface {
	DescribeLogGroups(context.Context, *cloudwatchlogs.DescribeLogGroupsInput, ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogGroupsOutput, error)
}

var (
	_ STSAPI  = (*sts.Client)(nil)
	_ ECSAPI  = (*ecs.Client)(nil)
	_ EC2API  = (*ec2.Client)(nil)
	_ IAMAPI  = (*iam.Client)(nil)
	_ ECRAPI  = (*ecr.Client)(nil)
	_ LogsAPI = (*cloudwatchlogs.Client)(nil)
)

// Clients are one AWS identity's clients in one region.
type Clients struct {
	Region string
	STS    STSAPI
	ECS    ECSAPI
	EC2    EC2API
	IAM    IAMAPI
	ECR    ECRAPI
	Logs   LogsAPI
	// InRegion returns the same identity's clients in another region, for
	// images in another region's ECR and log groups in another region.
	// Nil: those are not checked.
	InRegion func(ctx context.Context, region string) (*Clients, error)
}

// in returns the clients for region: c itself, or InRegion's.
func (c *Clients) in(ctx context.Context, region string) (*Clients, error) {
	if region == "" || region == c.Region {
		return c, nil
	}
	if c.InRegion == nil {
		return nil, errNoRegionClients
	}
	return c.InRegion(ctx, region)
}

// NewClients makes the SDK's clients from cfg (its credentials, region,
// retryer, HTTP client and middleware, deadlines included). A non-empty
// endpoint replaces every service's endpoint (an endpoint_url, the AWS
// test server); plainHTTP sends requests without TLS (use_ssl false).
// InRegion is left to the caller.
func NewClients(cfg aws.Config, endpoint string, plainHTTP bool) *Clients {
	return &Clients{
		Region: cfg.Region,
		STS: sts.NewFromConfig(cfg, func(o *sts.Options) {
			o.BaseEndpoint, o.EndpointOptions.DisableHTTPS = awsclient.BaseEndpoint(endpoint, o.BaseEndpoint), plainHTTP
		}),
		ECS: ecs.NewFromConfig(cfg, func(o *ecs.Options) {
			o.BaseEndpoint, o.EndpointOptions.DisableHTTPS = awsclient.BaseEndpoint(endpoint, o.BaseEndpoint), plainHTTP
		}),
		EC2: ec2.NewFromConfig(cfg, func(o *ec2.Options) {
			o.BaseEndpoint, o.EndpointOptions.DisableHTTPS = awsclient.BaseEndpoint(endpoint, o.BaseEndpoint), plainHTTP
		}),
		IAM: iam.NewFromConfig(cfg, func(o *iam.Options) {
			o.BaseEndpoint, o.EndpointOptions.DisableHTTPS = awsclient.BaseEndpoint(endpoint, o.BaseEndpoint), plainHTTP
		}),
		ECR: ecr.NewFromConfig(cfg, func(o *ecr.Options) {
			o.BaseEndpoint, o.EndpointOptions.DisableHTTPS = awsclient.BaseEndpoint(endpoint, o.BaseEndpoint), plainHTTP
		}),
		Logs: cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) {
			o.BaseEndpoint, o.EndpointOptions.DisableHTTPS = awsclient.BaseEndpoint(endpoint, o.BaseEndpoint), plainHTTP
		}),
	}
}

// Actions are the IAM actions doctor's own calls need, to grant the
// identity that runs it (sts:GetCallerIdentity needs none). A check
// whose action is refused is skipped.
func Actions() []string {
	return []string{
		"ec2:DescribeRouteTables", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs",
		"ecr:DescribeImages", "ecs:DescribeClusters", "iam:GetRole", "iam:SimulatePrincipalPolicy",
		"logs:DescribeLogGroups",
	}
}
