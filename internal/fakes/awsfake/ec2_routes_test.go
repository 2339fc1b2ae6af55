package awsfake_test

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// defaultRoute is where a route table sends 0.0.0.0/0, or "".
func defaultRoute(rt ec2types.RouteTable) string {
	for _, r := range rt.Routes {
		if aws.ToString(r.DestinationCidrBlock) == "0.0.0.0/0" {
			return aws.ToString(r.GatewayId) + aws.ToString(r.NatGatewayId)
		}
	}
	return ""
}

// subnetRoute finds a subnet's route table as clients do: its explicit
// association, else its VPC's main table.
func subnetRoute(t *testing.T, e *env, vpcID, subnetID string) string {
	t.Helper()
	out, err := e.ec2.DescribeRouteTables(e.ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
		{Name: aws.String("association.subnet-id"), Values: []string{subnetID}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.RouteTables) == 0 {
		out, err = e.ec2.DescribeRouteTables(e.ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{vpcID}}, {Name: aws.String("association.main"), Values: []string{"true"}}}})
		if err != nil || len(out.RouteTables) != 1 {
			t.Fatalf("main route table of %s: %+v, %v", vpcID, out, err)
		}
	}
	return defaultRoute(out.RouteTables[0])
}

func TestEC2RouteTables(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{})
	defVPC, defSubnets, _ := e.s.DefaultNetwork()
	// The default VPC's subnets are public.
	for _, sn := range defSubnets {
		if r := subnetRoute(t, e, defVPC, sn); len(r) < 4 || r[:4] != "igw-" {
			t.Errorf("default subnet %s routes to %q", sn, r)
		}
	}

	vpc := e.s.AddVPC("10.1.0.0/16")
	public := e.s.AddSubnet(vpc, "10.1.0.0/24", "us-east-1a")
	private := e.s.AddSubnet(vpc, "10.1.1.0/24", "us-east-1b")
	isolated := e.s.AddSubnet(vpc, "10.1.2.0/24", "us-east-1c")
	if err := e.s.SetSubnetRoute(public, "igw-0123456789abcdef0"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetSubnetRoute(private, "nat-0123456789abcdef0"); err != nil {
		t.Fatal(err)
	}
	if r := subnetRoute(t, e, vpc, public); r != "igw-0123456789abcdef0" {
		t.Errorf("public subnet routes to %q", r)
	}
	if r := subnetRoute(t, e, vpc, private); r != "nat-0123456789abcdef0" {
		t.Errorf("private subnet routes to %q", r)
	}
	if r := subnetRoute(t, e, vpc, isolated); r != "" {
		t.Errorf("isolated subnet routes to %q", r)
	}
	if err := e.s.SetSubnetRoute(isolated, "eigw-1"); err == nil {
		t.Error("SetSubnetRoute accepted an egress-only gateway")
	}
	if err := e.s.SetSubnetRoute("subnet-0000", "igw-1"); err == nil {
		t.Error("SetSubnetRoute accepted an unknown subnet")
	}

	// The VPC's tables: main (local route only) and two explicit ones.
	out, err := e.ec2.DescribeRouteTables(e.ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpc}}}})
	if err != nil || len(out.RouteTables) != 3 {
		t.Fatalf("VPC route tables: %+v, %v", out, err)
	}
	main := out.RouteTables[0]
	if !aws.ToBool(main.Associations[0].Main) || len(main.Routes) != 1 || aws.ToString(main.Routes[0].GatewayId) != "local" ||
		aws.ToString(main.Routes[0].DestinationCidrBlock) != "10.1.0.0/16" || aws.ToString(main.VpcId) != vpc {
		t.Errorf("main route table = %+v", main)
	}
	byID, err := e.ec2.DescribeRouteTables(e.ctx, &ec2.DescribeRouteTablesInput{RouteTableIds: []string{aws.ToString(out.RouteTables[1].RouteTableId)}})
	if err != nil || len(byID.RouteTables) != 1 || aws.ToString(byID.RouteTables[0].Associations[0].SubnetId) != public {
		t.Errorf("by ID: %+v, %v", byID, err)
	}
	nat, err := e.ec2.DescribeRouteTables(e.ctx, &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{{Name: aws.String("route.nat-gateway-id"), Values: []string{"nat-*"}}}})
	if err != nil || len(nat.RouteTables) != 1 {
		t.Errorf("by NAT gateway: %+v, %v", nat, err)
	}
	for _, tc := range []struct {
		name, code string
		in         *ec2.DescribeRouteTablesInput
	}{
		{"unknown table", "InvalidRouteTableID.NotFound", &ec2.DescribeRouteTablesInput{RouteTableIds: []string{"rtb-0000000000000000a"}}},
		{"malformed ID", "InvalidRouteTableId.Malformed", &ec2.DescribeRouteTablesInput{RouteTableIds: []string{"vpc-1"}}},
		{"unknown filter", "InvalidParameterValue", &ec2.DescribeRouteTablesInput{Filters: []ec2types.Filter{{Name: aws.String("colour"), Values: []string{"x"}}}}},
		{"MaxResults over 100", "InvalidParameterValue", &ec2.DescribeRouteTablesInput{MaxResults: aws.Int32(101)}},
	} {
		if _, err := e.ec2.DescribeRouteTables(e.ctx, tc.in); apiCode(err) != tc.code {
			t.Errorf("%s = %v, want %s", tc.name, err, tc.code)
		}
	}
}

func TestSecurityGroupsAndClusterProviders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{})
	vpc := e.s.AddVPC("10.2.0.0/16")
	sg := e.s.AddSecurityGroup(vpc, "prefect-tasks")
	if sg == "" || e.s.AddSecurityGroup(vpc, "prefect-tasks") != "" || e.s.AddSecurityGroup("vpc-0000", "x") != "" {
		t.Errorf("AddSecurityGroup: %q, or a duplicate or orphan was accepted", sg)
	}
	out, err := e.ec2.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{sg}})
	if err != nil || len(out.SecurityGroups) != 1 || aws.ToString(out.SecurityGroups[0].VpcId) != vpc || aws.ToString(out.SecurityGroups[0].GroupName) != "prefect-tasks" {
		t.Errorf("DescribeSecurityGroups = %+v, %v", out, err)
	}

	if err := e.s.SetClusterCapacityProviders("work", []string{"FARGATE", "FARGATE_SPOT"},
		awsfake.CapacityProviderStrategyItem{CapacityProvider: "FARGATE_SPOT", Weight: 3},
		awsfake.CapacityProviderStrategyItem{CapacityProvider: "FARGATE", Weight: 1, Base: 1}); err != nil {
		t.Fatal(err)
	}
	c, err := e.ecs.DescribeClusters(e.ctx, &ecs.DescribeClustersInput{Clusters: []string{"work"}})
	if err != nil || len(c.Clusters) != 1 || !slices.Equal(c.Clusters[0].CapacityProviders, []string{"FARGATE", "FARGATE_SPOT"}) ||
		len(c.Clusters[0].DefaultCapacityProviderStrategy) != 2 || c.Clusters[0].DefaultCapacityProviderStrategy[1].Base != 1 {
		t.Errorf("DescribeClusters = %+v, %v", c, err)
	}
	if err := e.s.SetClusterCapacityProviders("work", []string{"MY_ASG"}); err == nil {
		t.Error("an unknown capacity provider was accepted")
	}
	e.s.AddCapacityProvider("MY_ASG")
	if err := e.s.SetClusterCapacityProviders("work", []string{"MY_ASG", "FARGATE"}, awsfake.CapacityProviderStrategyItem{CapacityProvider: "MY_ASG", Weight: 1},
		awsfake.CapacityProviderStrategyItem{CapacityProvider: "FARGATE", Weight: 1}); err == nil {
		t.Error("a strategy mixing Fargate and Auto Scaling providers was accepted")
	}
}
