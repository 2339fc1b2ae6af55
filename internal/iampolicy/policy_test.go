package iampolicy_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	goldenfile "github.com/ecsworker/ecsworker/internal/golden"
	"github.com/ecsworker/ecsworker/internal/iampolicy"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

const (
	account = "123456789012"
	region  = "us-east-1"
	pool    = "etl-pool"
)

// job renders a deployment's job variables with ecsworker's default
// template, as aws-policy does, and reads its usage.
func job(t *testing.T, name, deploymentID, region string, vars string) iampolicy.Usage {
	t.Helper()
	return jobWith(t, ecsjob.DefaultTemplate(), name, deploymentID, region, vars)
}

// awsvpcTemplate is the default template with its task definitions in
// awsvpc network mode, as pools running EC2 tasks in subnets have it.
func awsvpcTemplate(t *testing.T) *jobtemplate.Template {
	t.Helper()
	o := ecsjob.DefaultTemplate().Object()
	o.GetObject("job_configuration").GetObject("task_definition").Set("networkMode", "awsvpc")
	tmpl, err := jobtemplate.FromObject(o)
	if err != nil {
		t.Fatal(err)
	}
	return tmpl
}

func jobWith(t *testing.T, tmpl *jobtemplate.Template, name, deploymentID, region string, vars string) iampolicy.Usage {
	t.Helper()
	v, err := jsonv.DecodeObject([]byte(vars))
	if err != nil {
		t.Fatal(err)
	}
	prepared, err := ecsjob.Prepare(context.Background(), ecsjob.Job{
		Template:            tmpl,
		DeploymentVariables: v,
		Context:             ecsrequest.RunContext{WorkPoolName: pool, DeploymentID: deploymentID, Region: region, DefaultImage: "prefecthq/prefect:3-latest"},
	})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	u, err := iampolicy.FromPlan(name, region, prepared.Plan)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return u
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenfile.Check(t, "./internal/iampolicy", name, got)
}

const (
	dep1 = "0b9e5a0c-3c1f-4d2e-9a57-1d2f3e4a5b6c"
	dep2 = "7f3c2b1a-9e8d-4c7b-8a69-5f4e3d2c1b0a"
	dep3 = "c4d5e6f7-a8b9-4c0d-9e1f-2a3b4c5d6e7f"
)

func TestGolden(t *testing.T) {
	literal := iampolicy.Literal{Region: region, Account: account}
	tests := map[string]struct {
		needs func(t *testing.T) iampolicy.Needs
		w     iampolicy.ARNWriter
	}{
		// The default template's Fargate job on a VPC's subnets, logging to
		// CloudWatch with an execution role and a task role.
		"fargate-inferred-subnets-cloudwatch": {w: literal, needs: func(t *testing.T) iampolicy.Needs {
			return iampolicy.Needs{Jobs: []iampolicy.Usage{job(t, "etl/nightly", dep1, region, `{
				"cluster": "prod",
				"configure_cloudwatch_logs": true,
				"cloudwatch_logs_options": {"awslogs-group": "/prefect/flows"},
				"execution_role_arn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
				"task_role_arn": "arn:aws:iam::123456789012:role/etl"}`)}}
		}},
		// An EC2 capacity provider with the subnets listed and no vpc_id:
		// nothing to ask EC2.
		"ec2-capacity-provider-explicit-subnets": {w: literal, needs: func(t *testing.T) iampolicy.Needs {
			return iampolicy.Needs{Jobs: []iampolicy.Usage{jobWith(t, awsvpcTemplate(t), "gpu/train", dep1, region, `{
				"cluster": "gpu",
				"capacity_provider_strategy": [{"capacityProvider": "gpu-asg", "weight": 1, "base": 0}],
				"subnets": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
				"execution_role_arn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"}`)}}
		}},
		// Every deployment runs an existing task definition: nothing is
		// registered, so no RegisterTaskDefinition, ListTaskDefinitions,
		// nor tagging of task definitions.
		"task-definition-arn-only": {w: literal, needs: func(t *testing.T) iampolicy.Needs {
			return iampolicy.Needs{Jobs: []iampolicy.Usage{
				job(t, "etl/nightly", dep1, region, `{"cluster": "prod", "subnets": ["subnet-1"], "task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/etl:42"}`),
				job(t, "etl/hourly", dep2, region, `{"cluster": "prod", "subnets": ["subnet-1"], "task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/etl-hourly"}`),
			}}
		}},
		"auto-deregister": {w: literal, needs: func(t *testing.T) iampolicy.Needs {
			return iampolicy.Needs{Jobs: []iampolicy.Usage{job(t, "etl/nightly", dep1, region, `{
				"cluster": "prod", "vpc_id": "vpc-0abc",
				"network_configuration": {"subnets": ["subnet-1"], "assignPublicIp": "DISABLED"},
				"auto_deregister_task_definition": true}`)}}
		}},
		"events-queue": {w: literal, needs: func(t *testing.T) iampolicy.Needs {
			return iampolicy.Needs{
				Jobs:        []iampolicy.Usage{job(t, "etl/nightly", dep1, region, `{"cluster": "prod", "subnets": ["subnet-1"]}`)},
				EventsQueue: "https://sqs.us-east-1.amazonaws.com/123456789012/ecsworker-events",
			}
		}},
		// Three deployments on two clusters (one by ARN), in two families,
		// one of them with a role assumed by the worker.
		"several-clusters-and-families": {w: literal, needs: func(t *testing.T) iampolicy.Needs {
			return iampolicy.Needs{
				Jobs: []iampolicy.Usage{
					job(t, "etl/nightly", dep1, region, `{"cluster": "prod", "subnets": ["subnet-1"], "execution_role_arn": "arn:aws:iam::123456789012:role/exec"}`),
					job(t, "etl/hourly", dep2, region, `{"cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/analytics", "family": "etl-hourly", "subnets": ["subnet-2"], "execution_role_arn": "arn:aws:iam::123456789012:role/exec"}`),
					job(t, "report/daily", dep3, region, `{"cluster": "prod", "task_definition_arn": "report:7", "subnets": ["subnet-1"]}`),
				},
				AssumeRoles: []string{"arn:aws:iam::123456789012:role/prefect-worker"},
			}
		}},
		// Neither the account nor the region are known: those ARN fields
		// are "*", and the cluster condition becomes ArnLike.
		"unknown-account": {w: iampolicy.Literal{}, needs: func(t *testing.T) iampolicy.Needs {
			return iampolicy.Needs{Jobs: []iampolicy.Usage{job(t, "etl/nightly", dep1, "", `{
				"configure_cloudwatch_logs": true,
				"execution_role_arn": "ecsTaskExecutionRole"}`)}, EventsQueue: "ecsworker-events"}
		}},
		// The worker role of the service stack (internal/infra): the same
		// generator, with CloudFormation's references.
		"cloudformation-service": {w: iampolicy.CloudFormation{Optional: map[string]string{"FlowRunTaskRoleArn": "HasFlowRunTaskRole"}},
			needs: func(t *testing.T) iampolicy.Needs {
				return iampolicy.Needs{Jobs: []iampolicy.Usage{{
					Name: "service", Cluster: "${ClusterArn}", Family: "${FlowRunFamilyPattern}",
					PassRoles:    []string{"${FlowRunExecutionRole.Arn}", "${FlowRunTaskRoleArn}"},
					LogGroups:    []iampolicy.LogGroup{{Name: "${FlowRunLogGroupName}"}},
					InferSubnets: true, AutoDeregister: true,
				}}, EventsQueue: "${EventsQueue.Arn}"}
			}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := iampolicy.Generate(tc.needs(t), tc.w)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := jsonv.MarshalIndent(p.Document())
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name+".json", doc)
			checkCatalog(t, p)
			if p.Size() > iampolicy.MaxManagedPolicy {
				t.Errorf("%d characters: over the managed policy limit", p.Size())
			}
		})
	}
}

// checkCatalog holds every generated action to the catalog, which says
// what each is for: an action the catalog does not know would be allowed
// without anyone having said why.
func checkCatalog(t *testing.T, p *iampolicy.Policy) {
	t.Helper()
	for _, a := range p.Actions() {
		entry, ok := iampolicy.Lookup(a)
		if !ok || (!entry.Worker && a != "sts:AssumeRole") {
			t.Errorf("%s is not a worker action of the catalog", a)
		}
	}
	sids := map[string]bool{}
	for _, s := range p.Statements {
		if sids[s.Sid] {
			t.Errorf("Sid %s appears twice", s.Sid)
		}
		sids[s.Sid] = true
		if !slices.IsSorted(s.Actions) {
			t.Errorf("%s: actions %v are not sorted", s.Sid, s.Actions)
		}
		if len(s.Resources) == 0 {
			t.Errorf("%s: no resource", s.Sid)
		}
	}
}

func actionsOf(t *testing.T, n iampolicy.Needs) []string {
	t.Helper()
	p, err := iampolicy.Generate(n, iampolicy.Literal{Region: region, Account: account})
	if err != nil {
		t.Fatal(err)
	}
	checkCatalog(t, p)
	return p.Actions()
}

// TestMinimal checks that each optional action comes only with what needs it.
func TestMinimal(t *testing.T) {
	base := `"cluster": "prod", "subnets": ["subnet-1"]`
	tests := map[string]struct {
		vars     string
		queue    string
		want     []string
		wantNone []string
	}{
		"registers": {vars: `{` + base + `}`,
			want:     []string{"ecs:RegisterTaskDefinition", "ecs:ListTaskDefinitions", "ecs:DescribeTaskDefinition", "ecs:RunTask", "ecs:TagResource"},
			wantNone: []string{"ecs:DeregisterTaskDefinition", "logs:GetLogEvents", "ec2:DescribeSubnets", "ec2:DescribeVpcs", "sqs:ReceiveMessage", "iam:PassRole"}},
		"task definition arn": {vars: `{` + base + `, "task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/etl:1", "auto_deregister_task_definition": true}`,
			want:     []string{"ecs:DescribeTaskDefinition", "ecs:RunTask", "ecs:TagResource", "ecs:DescribeTasks", "ecs:StopTask"},
			wantNone: []string{"ecs:RegisterTaskDefinition", "ecs:ListTaskDefinitions", "ecs:DeregisterTaskDefinition"}},
		"auto deregister":  {vars: `{` + base + `, "auto_deregister_task_definition": true}`, want: []string{"ecs:DeregisterTaskDefinition"}},
		"inferred subnets": {vars: `{"cluster": "prod"}`, want: []string{"ec2:DescribeVpcs", "ec2:DescribeSubnets"}},
		"checked subnets": {vars: `{"cluster": "prod", "vpc_id": "vpc-1", "network_configuration": {"subnets": ["subnet-1"]}}`,
			want: []string{"ec2:DescribeSubnets"}, wantNone: []string{"ec2:DescribeVpcs"}},
		"subnets without vpc": {vars: `{"cluster": "prod", "subnets": ["subnet-1"]}`, wantNone: []string{"ec2:DescribeSubnets"}},
		"cloudwatch logs": {vars: `{` + base + `, "configure_cloudwatch_logs": true, "execution_role_arn": "arn:aws:iam::123456789012:role/x"}`,
			want: []string{"logs:GetLogEvents", "iam:PassRole"}},
		"logs without a stream prefix are never read": {vars: `{` + base + `, "configure_cloudwatch_logs": true, "execution_role_arn": "arn:aws:iam::123456789012:role/x", "cloudwatch_logs_options": {"awslogs-stream-prefix": ""}}`,
			wantNone: []string{"logs:GetLogEvents"}},
		"events queue": {vars: `{` + base + `}`, queue: "q", want: []string{"sqs:GetQueueUrl", "sqs:ReceiveMessage", "sqs:DeleteMessage"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := actionsOf(t, iampolicy.Needs{Jobs: []iampolicy.Usage{job(t, "f/d", dep1, region, tc.vars)}, EventsQueue: tc.queue})
			for _, a := range tc.want {
				if !slices.Contains(got, a) {
					t.Errorf("%s missing from %v", a, got)
				}
			}
			for _, a := range tc.wantNone {
				if slices.Contains(got, a) {
					t.Errorf("%s allowed without need: %v", a, got)
				}
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	jobs := []iampolicy.Usage{
		job(t, "a/1", dep1, region, `{"cluster": "prod", "subnets": ["s"], "execution_role_arn": "arn:aws:iam::123456789012:role/b"}`),
		job(t, "a/2", dep2, region, `{"cluster": "dev", "subnets": ["s"], "execution_role_arn": "arn:aws:iam::123456789012:role/a"}`),
		job(t, "a/3", dep3, region, `{"cluster": "prod", "subnets": ["s"], "task_definition_arn": "x:1"}`),
	}
	var docs []string
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}} {
		var n iampolicy.Needs
		for _, i := range order {
			n.Jobs = append(n.Jobs, jobs[i])
		}
		p, err := iampolicy.Generate(n, iampolicy.Literal{Region: region, Account: account})
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, p.Document().String())
	}
	if docs[0] != docs[1] || docs[0] != docs[2] {
		t.Errorf("the job order changes the policy:\n%s\n%s\n%s", docs[0], docs[1], docs[2])
	}
	if !strings.Contains(docs[0], `"Sid":"RunTaskDefinitionsOnClusterDev"`) || !strings.Contains(docs[0], `"Sid":"RunTaskDefinitionsOnClusterProd"`) {
		t.Errorf("per-cluster Sids: %s", docs[0])
	}
}

// TestResources pins how each kind of input becomes an ARN.
func TestResources(t *testing.T) {
	l := iampolicy.Literal{Region: "eu-west-1", Account: account}
	tests := []struct {
		name string
		got  any
		want string
	}{
		{"default cluster", l.ClusterARN("", ""), "arn:aws:ecs:eu-west-1:123456789012:cluster/default"},
		{"cluster ARN kept", l.ClusterARN("", "arn:aws:ecs:us-west-2:210987654321:cluster/x"), "arn:aws:ecs:us-west-2:210987654321:cluster/x"},
		{"tasks of a cluster ARN are in its account", l.Tasks("eu-west-1", "arn:aws:ecs:us-west-2:210987654321:cluster/x"), "arn:aws:ecs:us-west-2:210987654321:task/x/*"},
		{"revisionless ARN: any revision", l.TaskDefinition("", "arn:aws:ecs:eu-west-1:123456789012:task-definition/etl"), "arn:aws:ecs:eu-west-1:123456789012:task-definition/etl:*"},
		{"family:revision", l.TaskDefinition("", "etl:3"), "arn:aws:ecs:eu-west-1:123456789012:task-definition/etl:3"},
		{"role name", l.Role("exec"), "arn:aws:iam::123456789012:role/exec"},
		{"china", l.Family("cn-north-1", "f"), "arn:aws-cn:ecs:cn-north-1:123456789012:task-definition/f:*"},
		{"govcloud logs", l.LogStreams("us-gov-west-1", "/g"), "arn:aws-us-gov:logs:us-gov-west-1:123456789012:log-group:/g:log-stream:*"},
		{"queue name", l.Queue("", "q"), "arn:aws:sqs:eu-west-1:123456789012:q"},
		{"queue URL", l.Queue("", "https://sqs.ap-south-1.amazonaws.com/210987654321/q.fifo"), "arn:aws:sqs:ap-south-1:210987654321:q.fifo"},
		{"legacy queue URL", l.Queue("", "https://queue.amazonaws.com/210987654321/q"), "arn:aws:sqs:us-east-1:210987654321:q"},
		{"china queue URL", l.Queue("", "https://sqs.cn-north-1.amazonaws.com.cn/210987654321/q"), "arn:aws-cn:sqs:cn-north-1:210987654321:q"},
		{"queue URL of a custom endpoint", l.Queue("", "http://localhost:4566/000000000000/q"), "arn:aws:sqs:eu-west-1:000000000000:q"},
		{"unknown everything", iampolicy.Literal{}.Family("", "f"), "arn:*:ecs:*:*:task-definition/f:*"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, tc.got, tc.want)
		}
	}
	for region, want := range map[string]string{"us-east-1": "aws", "cn-northwest-1": "aws-cn", "us-gov-east-1": "aws-us-gov", "us-isob-east-1": "aws-iso-b", "us-iso-east-1": "aws-iso", "": "*"} {
		if got := iampolicy.PartitionOf(region); got != want {
			t.Errorf("PartitionOf(%q) = %s, want %s", region, got, want)
		}
	}
}

func TestBadInput(t *testing.T) {
	good := iampolicy.Usage{Name: "f/d", Cluster: "prod", Family: "fam"}
	tests := map[string]struct {
		needs iampolicy.Needs
		w     iampolicy.ARNWriter
		want  []string // each must appear in the error
	}{
		"cluster": {needs: iampolicy.Needs{Jobs: []iampolicy.Usage{{Name: "f/d", Cluster: "my cluster", Family: "f"}}},
			want: []string{`f/d: cluster "my cluster"`, "Give the cluster's name"}},
		"role": {needs: iampolicy.Needs{Jobs: []iampolicy.Usage{{Name: "f/d", Family: "f", PassRoles: []string{"arn:aws:iam::1:role/x"}}}},
			want: []string{`execution_role_arn/task_role_arn "arn:aws:iam::1:role/x"`, "arn:aws:iam::ACCOUNT:role/NAME"}},
		"neither family nor task definition": {needs: iampolicy.Needs{Jobs: []iampolicy.Usage{{Name: "f/d"}}},
			want: []string{`task_definition_arn ""`}},
		"queue": {needs: iampolicy.Needs{Jobs: []iampolicy.Usage{good}, EventsQueue: "not a queue"},
			want: []string{`--events-queue "not a queue"`, "https://sqs.REGION.amazonaws.com/ACCOUNT/NAME"}},
		"account": {needs: iampolicy.Needs{Jobs: []iampolicy.Usage{good}}, w: iampolicy.Literal{Account: "12345"},
			want: []string{`account "12345"`, "12 digits"}},
		"assumed role": {needs: iampolicy.Needs{AssumeRoles: []string{"worker"}},
			want: []string{`aws_credentials.assume_role_arn "worker"`}},
		"all at once": {needs: iampolicy.Needs{Jobs: []iampolicy.Usage{{Name: "f/d", Cluster: "a b", Family: "f", Region: "mars"}}, EventsQueue: "?"},
			want: []string{"3 problems", `region "mars"`, `cluster "a b"`, `--events-queue "?"`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := tc.w
			if w == nil {
				w = iampolicy.Literal{}
			}
			_, err := iampolicy.Generate(tc.needs, w)
			var ie iampolicy.InputErrors
			if !errors.As(err, &ie) {
				t.Fatalf("want InputErrors, got %v", err)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error lacks %q:\n%v", s, err)
				}
			}
		})
	}
	if _, err := iampolicy.Generate(iampolicy.Needs{}, iampolicy.Literal{}); !errors.Is(err, iampolicy.ErrNothingToAllow) {
		t.Errorf("empty needs: %v", err)
	}
}

func TestFromPlanUnresolvedFamily(t *testing.T) {
	prepared, err := ecsjob.Prepare(context.Background(), ecsjob.Job{Template: ecsjob.DefaultTemplate(),
		Context: ecsrequest.RunContext{DefaultImage: "img"}})
	if err == nil || prepared.Plan == nil {
		// Prepare reports the unresolved family as unresolved, not invalid.
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = iampolicy.FromPlan("f/d", "", prepared.Plan)
	if err == nil || !strings.Contains(err.Error(), "family") || !strings.Contains(err.Error(), "deployment's id") {
		t.Errorf("want an error about the unknown family, got %v", err)
	}
}

func TestAccountOf(t *testing.T) {
	u := iampolicy.Usage{Cluster: "prod", TaskDefinition: "arn:aws:ecs:us-east-1:111111111111:task-definition/x:1",
		PassRoles: []string{"arn:aws:iam::222222222222:role/r", "plain"}}
	acct, others := iampolicy.AccountOf(u.ARNs()...)
	if acct != "111111111111" || !slices.Equal(others, []string{"222222222222"}) {
		t.Errorf("AccountOf = %s %v", acct, others)
	}
}
