package awsfake_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

func TestEC2(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{DisableThrottling: true})
	defVPC, defSubnets, defSG := e.s.DefaultNetwork()
	other := e.s.AddVPC("10.0.0.0/16")
	var mine []string
	for i, az := range []string{"a", "b", "c", "a", "b", "c", "a"} {
		mine = append(mine, e.s.AddSubnet(other, "10.0."+string(rune('0'+i))+".0/24", "us-east-1"+az))
	}
	e.s.TagEC2(other, "Name", "prefect")

	v, err := e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("isDefault"), Values: []string{"true"}}}})
	if err != nil || len(v.Vpcs) != 1 || aws.ToString(v.Vpcs[0].VpcId) != defVPC || aws.ToString(v.Vpcs[0].CidrBlock) != "172.31.0.0/16" || !aws.ToBool(v.Vpcs[0].IsDefault) {
		t.Errorf("default VPC = %+v, %v", v, err)
	}
	v, err = e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("tag:Name"), Values: []string{"pre*"}}}})
	if err != nil || len(v.Vpcs) != 1 || aws.ToString(v.Vpcs[0].VpcId) != other || aws.ToString(v.Vpcs[0].Tags[0].Value) != "prefect" {
		t.Errorf("by tag = %+v, %v", v, err)
	}
	_, err = e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-0123456789abcdef0"}})
	if apiCode(err) != "InvalidVpcID.NotFound" || apiMessage(err) != "The vpc ID 'vpc-0123456789abcdef0' does not exist" {
		t.Errorf("unknown VPC = %v", err)
	}
	_, err = e.ec2.DescribeVpcs(e.ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("colour"), Values: []string{"x"}}}})
	if apiCode(err) != "InvalidParameterValue" {
		t.Errorf("unknown filter = %v", err)
	}

	sn, err := e.ec2.DescribeSubnets(e.ctx, &ec2.DescribeSubnetsInput{Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{defVPC}}}})
	if err != nil || len(sn.Subnets) != 3 || !aws.ToBool(sn.Subnets[0].DefaultForAz) || aws.ToString(sn.Subnets[0].AvailabilityZone) != "us-east-1a" {
		t.Errorf("default subnets = %+v, %v", sn, err)
	}
	var paged []string
	pages := 0
	p := ec2.NewDescribeSubnetsPaginator(e.ec2, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(5),
		Filters: []ec2types.Filter{{Name: aws.String("vpc-id"), Values: []string{other}}}})
	for p.HasMorePages() {
		pg, err := p.NextPage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range pg.Subnets {
			paged = append(paged, aws.ToString(s.SubnetId))
		}
	}
	if pages != 2 || !slices.Equal(paged, mine) {
		t.Errorf("%d pages: %v, want %v", pages, paged, mine)
	}
	for _, tc := range []struct {
		name, code string
		in         *ec2.DescribeSubnetsInput
	}{
		{"unknown subnet", "InvalidSubnetID.NotFound", &ec2.DescribeSubnetsInput{SubnetIds: []string{"subnet-0000000000000000a"}}},
		{"MaxResults 4", "InvalidParameterValue", &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(4)}},
		{"MaxResults with IDs", "InvalidParameterCombination", &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(5), SubnetIds: defSubnets}},
		{"dry run", "DryRunOperation", &ec2.DescribeSubnetsInput{DryRun: aws.Bool(true)}},
	} {
		if _, err := e.ec2.DescribeSubnets(e.ctx, tc.in); apiCode(err) != tc.code {
			t.Errorf("%s = %v, want %s", tc.name, err, tc.code)
		}
	}

	sg, err := e.ec2.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{Filters: []ec2types.Filter{
		{Name: aws.String("vpc-id"), Values: []string{defVPC}}, {Name: aws.String("group-name"), Values: []string{"default"}}}})
	if err != nil || len(sg.SecurityGroups) != 1 || aws.ToString(sg.SecurityGroups[0].GroupId) != defSG || len(sg.SecurityGroups[0].IpPermissionsEgress) != 1 {
		t.Errorf("default security group = %+v, %v", sg, err)
	}
	_, err = e.ec2.DescribeSecurityGroups(e.ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: []string{"sg-0000"}})
	if apiCode(err) != "InvalidGroup.NotFound" {
		t.Errorf("unknown group = %v", err)
	}
}

func TestSTS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{})
	id, err := e.sts.GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != "123456789012" || aws.ToString(id.Arn) != "arn:aws:iam::123456789012:user/awsfake" {
		t.Fatalf("GetCallerIdentity = %+v, %v", id, err)
	}
	role := "arn:aws:iam::123456789012:role/prefect-worker"
	ar, err := e.sts.AssumeRole(e.ctx, &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("worker-1")})
	if err != nil {
		t.Fatal(err)
	}
	c := ar.Credentials
	if !strings.HasPrefix(aws.ToString(c.AccessKeyId), "ASIA") || aws.ToString(c.SecretAccessKey) == "" || aws.ToString(c.SessionToken) == "" || c.Expiration == nil {
		t.Errorf("credentials = %+v", c)
	}
	if got := aws.ToString(ar.AssumedRoleUser.Arn); got != "arn:aws:sts::123456789012:assumed-role/prefect-worker/worker-1" {
		t.Errorf("assumed role ARN = %s", got)
	}

	// The temporary credentials work, and name the role session.
	cfg := aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(e.s.URL()),
		Credentials: credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))}
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(who.Arn) != aws.ToString(ar.AssumedRoleUser.Arn) {
		t.Errorf("as the role: %+v, %v", who, err)
	}
	td, err := ecs.NewFromConfig(cfg).RegisterTaskDefinition(context.Background(), fargateTD("as-role"))
	if err != nil || aws.ToString(td.TaskDefinition.RegisteredBy) != aws.ToString(ar.AssumedRoleUser.Arn) {
		t.Errorf("registeredBy = %v, %v", td, err)
	}

	for _, tc := range []struct {
		name string
		in   *sts.AssumeRoleInput
	}{
		{"not a role ARN", &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:user/x"), RoleSessionName: aws.String("s1")}},
		{"session name too short", &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("s")}},
		{"longer than the role allows", &sts.AssumeRoleInput{RoleArn: aws.String(role), RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(7200)}},
	} {
		if _, err := e.sts.AssumeRole(e.ctx, tc.in); apiCode(err) != "ValidationError" {
			t.Errorf("%s = %v", tc.name, err)
		}
	}
}
