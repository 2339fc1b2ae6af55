package awsfake_test

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// capTemplate is a small capacity stack (launch template on the SSM AMI
// parameter, group, warm pool, provider, association) as a value that
// each case changes before it is sent.
func capTemplate(subnet string) map[string]any {
	ref := func(n string) map[string]any { return map[string]any{"Ref": n} }
	return map[string]any{
		"Parameters": map[string]any{
			"ImageId": map[string]any{"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
				"Default": "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"},
		},
		"Resources": map[string]any{
			"LT": map[string]any{"Type": "AWS::EC2::LaunchTemplate", "Properties": map[string]any{
				"LaunchTemplateData": map[string]any{"ImageId": ref("ImageId"), "InstanceType": "m7i.large"}}},
			"ASG": map[string]any{"Type": "AWS::AutoScaling::AutoScalingGroup", "Properties": map[string]any{
				"MinSize": "0", "MaxSize": "4", "VPCZoneIdentifier": []any{subnet},
				"LaunchTemplate":                   map[string]any{"LaunchTemplateId": ref("LT"), "Version": map[string]any{"Fn::GetAtt": []any{"LT", "LatestVersionNumber"}}},
				"NewInstancesProtectedFromScaleIn": true}},
			"WarmPool": map[string]any{"Type": "AWS::AutoScaling::WarmPool", "Properties": map[string]any{
				"AutoScalingGroupName": ref("ASG"), "PoolState": "Stopped", "MinSize": 1}},
			"CP": map[string]any{"Type": "AWS::ECS::CapacityProvider", "Properties": map[string]any{
				"Name": "prefect-ec2-test",
				"AutoScalingGroupProvider": map[string]any{"AutoScalingGroupArn": ref("ASG"),
					"ManagedScaling":               map[string]any{"Status": "ENABLED", "TargetCapacity": 100},
					"ManagedTerminationProtection": "ENABLED"}}},
			"Assoc": map[string]any{"Type": "AWS::ECS::ClusterCapacityProviderAssociations", "Properties": map[string]any{
				"Cluster": "prod", "CapacityProviders": []any{ref("CP")}, "DefaultCapacityProviderStrategy": []any{}}},
		},
	}
}

// props returns a resource's properties in a capTemplate.
func props(t map[string]any, logical string) map[string]any {
	return t["Resources"].(map[string]any)[logical].(map[string]any)["Properties"].(map[string]any)
}

// TestCloudFormationCapacityRefusals: each refusal of the services behind
// a capacity stack fails its resource with the service's message, as
// CloudFormation's resource handlers report it, and rolls the stack back.
func TestCloudFormationCapacityRefusals(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		// first, when set, is deployed before, and must succeed.
		first  func(t map[string]any)
		change func(t map[string]any, first *awsfake.StackView)
		failed string // the resource that fails
		reason string
	}{
		"termination protection without managed scaling": {
			change: func(t map[string]any, _ *awsfake.StackView) {
				props(t, "CP")["AutoScalingGroupProvider"].(map[string]any)["ManagedScaling"].(map[string]any)["Status"] = "DISABLED"
			},
			failed: "CP", reason: "To enable managed termination protection for a capacity provider, the capacity provider must have managed scaling enabled.",
		},
		"termination protection without scale-in protection": {
			change: func(t map[string]any, _ *awsfake.StackView) {
				delete(props(t, "ASG"), "NewInstancesProtectedFromScaleIn")
			},
			failed: "CP", reason: "the Auto Scaling group must have instance protection from scale in enabled.",
		},
		"name prefixed aws": {
			change: func(t map[string]any, _ *awsfake.StackView) { props(t, "CP")["Name"] = "aws-warm" },
			failed: "CP", reason: `The name cannot be prefixed with "aws", "ecs", or "fargate".`,
		},
		"name prefixed ecs": {
			change: func(t map[string]any, _ *awsfake.StackView) { props(t, "CP")["Name"] = "ecsworker-prod" },
			failed: "CP", reason: "(Service: AmazonECS, Status Code: 400, Error Code: ClientException)",
		},
		"name prefixed Fargate, any case": {
			change: func(t map[string]any, _ *awsfake.StackView) { props(t, "CP")["Name"] = "Fargate_ec2" },
			failed: "CP", reason: "The specified capacity provider name is invalid.",
		},
		"provider name another stack holds": {
			first:  func(map[string]any) {},
			change: func(map[string]any, *awsfake.StackView) {},
			failed: "CP", reason: "The specified capacity provider already exists.",
		},
		"a group used by two providers of one stack": {
			change: func(t map[string]any, _ *awsfake.StackView) {
				cp2, _ := json.Marshal(t["Resources"].(map[string]any)["CP"])
				var v map[string]any
				_ = json.Unmarshal(cp2, &v)
				v["Properties"].(map[string]any)["Name"] = "prefect-ec2-other"
				v["DependsOn"] = "CP"
				t["Resources"].(map[string]any)["CP2"] = v
			},
			failed: "CP2", reason: "The specified Auto Scaling group is already in use by another capacity provider.",
		},
		"another stack's group": {
			first: func(t map[string]any) { delete(t["Resources"].(map[string]any), "Assoc") },
			change: func(t map[string]any, first *awsfake.StackView) {
				r := t["Resources"].(map[string]any)
				for _, n := range []string{"LT", "ASG", "WarmPool", "Assoc"} {
					delete(r, n)
				}
				asg, _ := first.Resource("ASG")
				props(t, "CP")["Name"] = "prefect-ec2-second"
				props(t, "CP")["AutoScalingGroupProvider"].(map[string]any)["AutoScalingGroupArn"] = asg.PhysicalID
			},
			failed: "CP", reason: "The specified Auto Scaling group is already in use by another capacity provider.",
		},
		"warm pool on a mixed instances group": {
			change: func(t map[string]any, _ *awsfake.StackView) {
				asg := props(t, "ASG")
				asg["MixedInstancesPolicy"] = map[string]any{
					"LaunchTemplate": map[string]any{"LaunchTemplateSpecification": asg["LaunchTemplate"],
						"Overrides": []any{map[string]any{"InstanceType": "m7i.large"}, map[string]any{"InstanceType": "m6i.large"}}}}
				delete(asg, "LaunchTemplate")
			},
			failed: "WarmPool", reason: "You can't add a warm pool to an Auto Scaling group that has a mixed instances policy",
		},
		"association naming an unknown cluster": {
			change: func(t map[string]any, _ *awsfake.StackView) { props(t, "Assoc")["Cluster"] = "nope" },
			failed: "Assoc", reason: "Error Code: ClusterNotFoundException",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s, c, ctx := cfnEnv(t)
				s.CreateCluster("prod")
				_, subnets, _ := s.DefaultNetwork()
				create := func(stack string, tmpl map[string]any) {
					t.Helper()
					b, _ := json.Marshal(tmpl)
					if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String(stack), TemplateBody: aws.String(string(b))}); err != nil {
						t.Fatalf("CreateStack %s: %v", stack, err)
					}
					time.Sleep(40 * awsfake.DefaultStackStep)
				}
				var first *awsfake.StackView
				if tc.first != nil {
					tmpl := capTemplate(subnets[0])
					tc.first(tmpl)
					create("first", tmpl)
					v, _ := s.Stack("first")
					if v.Status != "CREATE_COMPLETE" {
						t.Fatalf("first stack: %s\n%s", v.Status, strings.Join(events(t, ctx, c, "first"), "\n"))
					}
					first = &v
				}
				tmpl := capTemplate(subnets[0])
				tc.change(tmpl, first)
				create("cap", tmpl)
				if st := stackStatus(t, ctx, c, "cap"); st != "ROLLBACK_COMPLETE" {
					t.Errorf("stack %s, want ROLLBACK_COMPLETE", st)
				}
				ev := strings.Join(events(t, ctx, c, "cap"), "\n")
				if !strings.Contains(ev, tc.failed+" CREATE_FAILED: Resource handler returned message: ") || !strings.Contains(ev, tc.reason) ||
					!strings.Contains(ev, "The following resource(s) failed to create: ["+tc.failed+"]") {
					t.Errorf("events do not show %s failing with %q:\n%s", tc.failed, tc.reason, ev)
				}
				// The rollback undid what the stack did to ECS.
				if providers, _ := s.ClusterCapacityProviders("prod"); first == nil && len(providers) != 0 {
					t.Errorf("after the rollback the cluster has providers %v", providers)
				}
			})
		})
	}
}

// TestCloudFormationCapacitySSM: an SSM parameter-typed parameter that
// the parameter store does not hold (a region without that AMI, a typo)
// is refused when the stack is asked for, as CloudFormation does: nothing
// is created, so there is nothing to roll back.
func TestCloudFormationCapacitySSM(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s, c, ctx := cfnEnv(t)
		s.CreateCluster("prod")
		_, subnets, _ := s.DefaultNetwork()
		b, _ := json.Marshal(capTemplate(subnets[0]))
		for name, tc := range map[string]struct {
			param, value string
			want         string
		}{
			"unknown parameter": {param: "ImageId", value: "/aws/service/ecs/optimized-ami/amazon-linux-2023/nope/image_id",
				want: "Unable to fetch parameters [/aws/service/ecs/optimized-ami/amazon-linux-2023/nope/image_id] from parameter store for this account."},
			"not an AMI": {param: "ImageId", value: "/custom/not-an-ami", want: "which is not an AMI ID"},
		} {
			s.SetSSMParameter("/custom/not-an-ami", "hello")
			_, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("ssm"), TemplateBody: aws.String(string(b)), Parameters: params(tc.param, tc.value)})
			if apiCode(err) != "ValidationError" || !strings.Contains(apiMessage(err), tc.want) {
				t.Errorf("%s: %v, want ValidationError %q", name, err, tc.want)
			}
			if _, ok := s.Stack("ssm"); ok {
				t.Errorf("%s: the stack was created", name)
			}
		}
		// The same template deploys once the parameter store has the name.
		s.SetSSMParameter("/aws/service/ecs/optimized-ami/amazon-linux-2023/nope/image_id", "ami-0123456789abcdef0")
		if _, err := c.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: aws.String("ssm"), TemplateBody: aws.String(string(b)),
			Parameters: params("ImageId", "/aws/service/ecs/optimized-ami/amazon-linux-2023/nope/image_id")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(40 * awsfake.DefaultStackStep)
		v, _ := s.Stack("ssm")
		lt, _ := v.Resource("LT")
		if v.Status != "CREATE_COMPLETE" || lt.Properties.(map[string]any)["LaunchTemplateData"].(map[string]any)["ImageId"] != "ami-0123456789abcdef0" {
			t.Errorf("stack %s, launch template %v", v.Status, lt.Properties)
		}
	})
}
