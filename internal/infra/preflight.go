package infra

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
)

// Cluster is an ECS cluster the pre-deploy check found.
type Cluster struct {
	Name, Arn string
	// Fargate tells whether FARGATE is among its capacity providers;
	// only informative, as launchType FARGATE works without it.
	Fargate bool
	// CapacityProviders and DefaultStrategy are the cluster's, which
	// deploy-capacity keeps.
	CapacityProviders []string
	DefaultStrategy   []StrategyItem
}

// ResolveCluster finds an ACTIVE cluster by name or ARN. The stacks take
// its ARN: the events rule compares detail.clusterArn literally, so a bare
// name there would match nothing.
func ResolveCluster(ctx context.Context, api awsclient.ECSAPI, region, ident string) (*Cluster, error) {
	if ident == "" {
		return nil, fmt.Errorf("--cluster is required: the name or ARN of the ECS cluster the flow runs run on")
	}
	out, err := api.DescribeClusters(ctx, &ecs.DescribeClustersInput{Clusters: []string{ident}})
	if err != nil {
		return nil, fmt.Errorf("--cluster %s: cannot describe the cluster in %s: %s", ident, region, awserr.ErrorMessage(err))
	}
	// One cluster was asked for; ECS lists an unknown one under failures.
	if len(out.Clusters) == 0 {
		return nil, fmt.Errorf("--cluster %s: no such ECS cluster in %s; check the name and --region (aws ecs list-clusters lists them)", ident, region)
	}
	c := out.Clusters[0]
	if status := aws.ToString(c.Status); status != "ACTIVE" {
		return nil, fmt.Errorf("--cluster %s: the cluster is %s in %s, not ACTIVE; give an active cluster", ident, status, region)
	}
	res := &Cluster{Name: aws.ToString(c.ClusterName), Arn: aws.ToString(c.ClusterArn),
		Fargate: slices.Contains(c.CapacityProviders, "FARGATE"), CapacityProviders: c.CapacityProviders}
	for _, it := range c.DefaultCapacityProviderStrategy {
		res.DefaultStrategy = append(res.DefaultStrategy, StrategyItem{CapacityProvider: aws.ToString(it.CapacityProvider), Weight: it.Weight, Base: it.Base})
	}
	return res, nil
}

// CheckNetwork checks that the VPC exists and every subnet is in it. It
// returns warnings about doubtful but valid set-ups.
func CheckNetwork(ctx context.Context, api awsclient.EC2API, region, vpcID string, subnetIDs []string, publicIP bool) ([]string, error) {
	if _, err := api.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{vpcID}}); err != nil {
		if strings.HasPrefix(awserr.ErrorCode(err), "InvalidVpcID") {
			return nil, fmt.Errorf("--vpc %s: no such VPC in %s; check the ID and --region", vpcID, region)
		}
		return nil, fmt.Errorf("--vpc %s: cannot describe the VPC in %s: %s", vpcID, region, awserr.ErrorMessage(err))
	}
	out, err := api.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: subnetIDs})
	if err != nil {
		if strings.HasPrefix(awserr.ErrorCode(err), "InvalidSubnetID") {
			return nil, fmt.Errorf("--subnets: %s (region %s); give subnets of VPC %s", awserr.ErrorMessage(err), region, vpcID)
		}
		return nil, fmt.Errorf("--subnets: cannot describe the subnets in %s: %s", region, awserr.ErrorMessage(err))
	}
	var foreign []string
	public := 0
	for _, sn := range out.Subnets {
		if aws.ToString(sn.VpcId) != vpcID {
			foreign = append(foreign, fmt.Sprintf("%s is in %s", aws.ToString(sn.SubnetId), aws.ToString(sn.VpcId)))
		}
		if aws.ToBool(sn.MapPublicIpOnLaunch) {
			public++
		}
	}
	if len(foreign) > 0 {
		return nil, fmt.Errorf("--subnets: not in VPC %s: %s; give subnets of that VPC", vpcID, strings.Join(foreign, ", "))
	}
	var warnings []string
	if !publicIP && public == len(out.Subnets) && public > 0 {
		warnings = append(warnings, "the subnets give public IPs on launch, as public subnets do; without a NAT gateway the worker cannot reach the Prefect API or pull its image unless you pass --assign-public-ip")
	}
	return warnings, nil
}
