package awsfake_test

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

func TestIAMGetRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{})
	trust := `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}}`
	arn := e.s.CreateRole("ecsTaskExecutionRole", trust)
	out, err := e.iam.GetRole(e.ctx, &iam.GetRoleInput{RoleName: aws.String("ecsTaskExecutionRole")})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Role
	if aws.ToString(r.Arn) != arn || aws.ToString(r.Path) != "/" || aws.ToString(r.RoleName) != "ecsTaskExecutionRole" ||
		!strings.HasPrefix(aws.ToString(r.RoleId), "AROA") || r.CreateDate == nil || aws.ToInt32(r.MaxSessionDuration) != 3600 {
		t.Errorf("role = %+v", r)
	}
	// IAM returns the trust policy URL-encoded; the SDK leaves it so.
	doc := aws.ToString(r.AssumeRolePolicyDocument)
	if decoded, err := url.QueryUnescape(doc); err != nil || decoded != trust || !strings.HasPrefix(doc, "%7B%22Version%22%3A%20%222012-10-17%22") {
		t.Errorf("AssumeRolePolicyDocument = %s", doc)
	}

	_, err = e.iam.GetRole(e.ctx, &iam.GetRoleInput{RoleName: aws.String("ghost")})
	var missing *iamtypes.NoSuchEntityException
	if !errors.As(err, &missing) || httpStatus(err) != 404 || apiMessage(err) != "The role with name ghost cannot be found." {
		t.Errorf("missing role = %v", err)
	}
}

// simPolicy exercises the policy grammar: wildcards, NotAction,
// NotResource, explicit deny, and the condition operators.
const simPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "run", "Effect": "Allow", "Action": "ecs:RunTask", "Resource": "arn:aws:ecs:*:*:task-definition/flow-?:*",
     "Condition": {"StringLike": {"ecs:cluster": "arn:aws:ecs:*:*:cluster/prod-*"}}},
    {"Sid": "tag", "Effect": "Allow", "Action": "ecs:TagResource", "Resource": "*",
     "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "owner"]}}},
    {"Sid": "onlyecs", "Effect": "Deny", "Action": "iam:PassRole", "NotResource": "arn:aws:iam::*:role/ecs-*"},
    {"Sid": "pass", "Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
     "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}},
    {"Sid": "notprod", "Effect": "Allow", "Action": "logs:GetLogEvents", "Resource": "*",
     "Condition": {"StringNotEquals": {"aws:ResourceTag/env": "prod"}}},
    {"Sid": "rule", "Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "*",
     "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:*:rule/prefect-*"}}},
    {"Sid": "queue", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*",
     "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/exact"}}},
    {"Sid": "rest", "Effect": "Allow", "NotAction": ["iam:*", "ecs:*", "logs:*", "sqs:*", "sts:*"], "Resource": "*"}
  ]
}`

func TestSimulatePrincipalPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{})
	role := e.s.CreateRole("sim", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}}`)
	simulate := func(source, action, resource string, ctx map[string][]string) (*iamtypes.EvaluationResult, error) {
		in := &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(source), ActionNames: []string{action}}
		if resource != "" {
			in.ResourceArns = []string{resource}
		}
		for k, v := range ctx {
			in.ContextEntries = append(in.ContextEntries, iamtypes.ContextEntry{ContextKeyName: aws.String(k), ContextKeyValues: v, ContextKeyType: iamtypes.ContextKeyTypeEnumStringList})
		}
		out, err := e.iam.SimulatePrincipalPolicy(e.ctx, in)
		if err != nil {
			return nil, err
		}
		if out.IsTruncated || len(out.EvaluationResults) != 1 {
			t.Fatalf("simulation of %s: %+v", action, out)
		}
		return &out.EvaluationResults[0], nil
	}

	// With no policy in force, everything is allowed, as every call is.
	if r, err := simulate(user, "ecs:RunTask", "", nil); err != nil || r.EvalDecision != iamtypes.PolicyEvaluationDecisionTypeAllowed || aws.ToString(r.EvalResourceName) != "*" {
		t.Errorf("without policies: %+v, %v", r, err)
	}
	for src, code := range map[string]string{
		"arn:aws:iam::123456789012:role/ghost": "NoSuchEntity",
		"arn:aws:iam::123456789012:user/ghost": "NoSuchEntity",
		"arn:aws:s3:::bucket":                  "InvalidInput",
	} {
		if _, err := simulate(src, "ecs:RunTask", "", nil); apiCode(err) != code {
			t.Errorf("source %s = %v, want %s", src, err, code)
		}
	}

	// Once policies are in force, simulating needs a permission too.
	if err := e.s.SetIdentityPolicy(user, awsfake.AllowActions("iam:SimulatePrincipalPolicy")); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetIdentityPolicy(role, simPolicy); err != nil {
		t.Fatal(err)
	}
	td := "arn:aws:ecs:us-east-1:123456789012:task-definition/flow-a:3"
	prod := map[string][]string{"ecs:cluster": {"arn:aws:ecs:us-east-1:123456789012:cluster/prod-1"}}
	tests := []struct {
		name, action, resource string
		ctx                    map[string][]string
		want                   iamtypes.PolicyEvaluationDecisionType
	}{
		{"StringLike matches", "ecs:RunTask", td, prod, "allowed"},
		{"actions match case-insensitively", "ECS:runTASK", td, prod, "allowed"},
		{"StringLike does not match", "ecs:RunTask", td, map[string][]string{"ecs:cluster": {"arn:aws:ecs:us-east-1:123456789012:cluster/dev"}}, "implicitDeny"},
		{"? is one character", "ecs:RunTask", "arn:aws:ecs:us-east-1:123456789012:task-definition/flow-ab:3", prod, "implicitDeny"},
		{"a missing key fails the condition", "ecs:RunTask", td, nil, "implicitDeny"},
		{"ForAnyValue, one key matches", "ecs:TagResource", "", map[string][]string{"aws:TagKeys": {"x", "owner"}}, "allowed"},
		{"ForAnyValue, none matches", "ecs:TagResource", "", map[string][]string{"aws:TagKeys": {"x"}}, "implicitDeny"},
		{"ForAnyValue, key missing", "ecs:TagResource", "", nil, "implicitDeny"},
		{"explicit deny through NotResource", "iam:PassRole", "arn:aws:iam::123456789012:role/admin", map[string][]string{"iam:PassedToService": {"ecs-tasks.amazonaws.com"}}, "explicitDeny"},
		{"NotResource spares the ECS roles", "iam:PassRole", "arn:aws:iam::123456789012:role/ecs-exec", map[string][]string{"iam:PassedToService": {"ecs-tasks.amazonaws.com"}}, "allowed"},
		{"StringEquals on another service", "iam:PassRole", "arn:aws:iam::123456789012:role/ecs-exec", map[string][]string{"iam:PassedToService": {"lambda.amazonaws.com"}}, "implicitDeny"},
		{"StringNotEquals, key missing", "logs:GetLogEvents", "", nil, "allowed"},
		{"StringNotEquals, equal", "logs:GetLogEvents", "", map[string][]string{"aws:ResourceTag/env": {"prod"}}, "implicitDeny"},
		{"StringNotEquals, different", "logs:GetLogEvents", "", map[string][]string{"aws:ResourceTag/env": {"dev"}}, "allowed"},
		{"ArnLike", "sqs:ReceiveMessage", "", map[string][]string{"aws:SourceArn": {"arn:aws:events:eu-west-1:123456789012:rule/prefect-runs"}}, "allowed"},
		{"ArnLike, other rule", "sqs:ReceiveMessage", "", map[string][]string{"aws:SourceArn": {"arn:aws:events:eu-west-1:123456789012:rule/other"}}, "implicitDeny"},
		{"ArnEquals", "sqs:SendMessage", "", map[string][]string{"aws:SourceArn": {"arn:aws:events:us-east-1:123456789012:rule/exact"}}, "allowed"},
		{"NotAction covers other services", "ec2:DescribeVpcs", "", nil, "allowed"},
		{"NotAction leaves the listed ones out", "sts:AssumeRole", "", nil, "implicitDeny"},
	}
	for _, tt := range tests {
		r, err := simulate(role, tt.action, tt.resource, tt.ctx)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if r.EvalDecision != tt.want || aws.ToString(r.EvalActionName) != tt.action {
			t.Errorf("%s: %+v, %v; want %s", tt.name, r, err, tt.want)
		}
	}

	// The condition keys a policy needed and the request lacked are named.
	r, _ := simulate(role, "ecs:RunTask", td, nil)
	if !slices.Equal(r.MissingContextValues, []string{"ecs:cluster"}) {
		t.Errorf("MissingContextValues = %v", r.MissingContextValues)
	}

	// One result per action: the most restrictive decision, with each
	// resource's own.
	out, err := e.iam.SimulatePrincipalPolicy(e.ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(role),
		ActionNames:    []string{"iam:PassRole"},
		ResourceArns:   []string{"arn:aws:iam::123456789012:role/ecs-exec", "arn:aws:iam::123456789012:role/admin"},
		ContextEntries: []iamtypes.ContextEntry{{ContextKeyName: aws.String("iam:PassedToService"), ContextKeyValues: []string{"ecs-tasks.amazonaws.com"}, ContextKeyType: iamtypes.ContextKeyTypeEnumString}},
	})
	if err != nil || len(out.EvaluationResults) != 1 {
		t.Fatalf("two resources: %+v, %v", out, err)
	}
	res := out.EvaluationResults[0]
	if res.EvalDecision != "explicitDeny" || len(res.ResourceSpecificResults) != 2 ||
		res.ResourceSpecificResults[0].EvalResourceDecision != "allowed" || res.ResourceSpecificResults[1].EvalResourceDecision != "explicitDeny" ||
		aws.ToString(res.ResourceSpecificResults[1].EvalResourceName) != "arn:aws:iam::123456789012:role/admin" {
		t.Errorf("per resource: %+v", res)
	}

	// A role without a policy of its own falls back to the default one,
	// as its sessions do.
	other := e.s.CreateRole("other", `{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}}`)
	if r, err := simulate(other, "ecs:ListClusters", "", nil); err != nil || r.EvalDecision != "implicitDeny" {
		t.Errorf("without a default policy: %+v, %v", r, err)
	}
	if err := e.s.SetIdentityPolicy("", awsfake.AllowActions("ecs:List*")); err != nil {
		t.Fatal(err)
	}
	if r, _ := simulate(other, "ecs:ListClusters", "", nil); r.EvalDecision != "allowed" {
		t.Errorf("default policy ListClusters: %+v", r)
	}
	if r, _ := simulate(other, "ecs:RunTask", td, prod); r.EvalDecision != "implicitDeny" {
		t.Errorf("default policy RunTask: %+v", r)
	}
	// PolicyInputList adds policies to the principal's for the simulation.
	extra, err := e.iam.SimulatePrincipalPolicy(e.ctx, &iam.SimulatePrincipalPolicyInput{PolicySourceArn: aws.String(other),
		ActionNames: []string{"ecs:RunTask", "ecs:ListTasks"}, PolicyInputList: []string{awsfake.AllowActions("ecs:RunTask"),
			`{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "ecs:ListTasks", "Resource": "*"}}`}})
	if err != nil || len(extra.EvaluationResults) != 2 || extra.EvaluationResults[0].EvalDecision != "allowed" || extra.EvaluationResults[1].EvalDecision != "explicitDeny" {
		t.Errorf("with PolicyInputList: %+v, %v", extra, err)
	}
}
