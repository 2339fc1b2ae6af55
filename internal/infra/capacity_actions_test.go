package infra_test

import (
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/iampolicy"
	"github.com/ecsworker/ecsworker/internal/infra"
)

// capacityActions are the actions CloudFormation performs with the
// caller's credentials for each resource type of the capacity template
// (create, update, delete and the reads in between), and the checks
// deploy-capacity makes itself; the stack has no service role.
var capacityActions = map[string][]string{
	"(deploy-capacity's checks)": {"sts:GetCallerIdentity", "ecs:DescribeClusters", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"},
	"(stack)": {"cloudformation:DescribeStacks", "cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet",
		"cloudformation:ExecuteChangeSet", "cloudformation:DeleteChangeSet", "cloudformation:DescribeStackEvents", "cloudformation:DeleteStack"},
	"AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>": {"ssm:GetParameters"},
	"AWS::IAM::Role":   {"iam:CreateRole", "iam:GetRole", "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:DeleteRole"},
	"AWS::IAM::Policy": {"iam:PutRolePolicy", "iam:DeleteRolePolicy"},
	"AWS::IAM::InstanceProfile": {"iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile", "iam:GetInstanceProfile",
		"iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"},
	"AWS::EC2::SecurityGroup": {"ec2:CreateSecurityGroup", "ec2:DescribeSecurityGroups", "ec2:AuthorizeSecurityGroupEgress",
		"ec2:RevokeSecurityGroupEgress", "ec2:CreateTags", "ec2:DeleteSecurityGroup"},
	"AWS::EC2::LaunchTemplate": {"ec2:CreateLaunchTemplate", "ec2:CreateLaunchTemplateVersion", "ec2:DescribeLaunchTemplates",
		"ec2:DeleteLaunchTemplate", "ec2:CreateTags", "iam:PassRole"},
	"AWS::AutoScaling::AutoScalingGroup": {"autoscaling:CreateAutoScalingGroup", "autoscaling:UpdateAutoScalingGroup",
		"autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeScalingActivities", "autoscaling:CreateOrUpdateTags",
		"autoscaling:DeleteAutoScalingGroup", "ec2:RunInstances", "iam:PassRole", "iam:CreateServiceLinkedRole"},
	"AWS::AutoScaling::WarmPool": {"autoscaling:PutWarmPool", "autoscaling:DescribeWarmPool", "autoscaling:DeleteWarmPool"},
	"AWS::ECS::CapacityProvider": {"ecs:CreateCapacityProvider", "ecs:UpdateCapacityProvider", "ecs:DescribeCapacityProviders",
		"ecs:DeleteCapacityProvider", "iam:CreateServiceLinkedRole"},
	"AWS::ECS::ClusterCapacityProviderAssociations": {"ecs:PutClusterCapacityProviders", "ecs:DescribeClusters"},
}

// TestCapacityActionsInCatalog pins that every resource type of the
// capacity template has its actions listed above, and every one of them
// is in the catalog (so in the README's permissions table) as used by
// the infra commands.
func TestCapacityActionsInCatalog(t *testing.T) {
	t.Parallel()
	tmpl, err := infra.RenderCapacity(nil)
	if err != nil {
		t.Fatal(err)
	}
	res := tmpl.GetObject("Resources")
	for _, name := range res.Keys() {
		typ := res.GetObject(name).GetString("Type")
		if _, ok := capacityActions[typ]; !ok {
			t.Errorf("resource %s: type %s has no actions listed in capacityActions", name, typ)
		}
	}
	params := tmpl.GetObject("Parameters")
	for _, name := range params.Keys() {
		if typ := params.GetObject(name).GetString("Type"); strings.HasPrefix(typ, "AWS::SSM::") {
			if _, ok := capacityActions[typ]; !ok {
				t.Errorf("parameter %s: type %s has no actions listed in capacityActions", name, typ)
			}
		}
	}
	for typ, actions := range capacityActions {
		for _, a := range actions {
			e, ok := iampolicy.Lookup(a)
			switch {
			case !ok:
				t.Errorf("%s: %s is not in iampolicy's catalog", typ, a)
			case !strings.Contains(e.By, "infra"):
				t.Errorf("%s: the catalog says %s is used by %q, not by the infra commands", typ, a, e.By)
			}
		}
	}
}
