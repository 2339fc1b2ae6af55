package awscmd_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/cli/clitest"
	"github.com/ecsworker/ecsworker/internal/doctor"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

// The policy aws-policy prints is enough: a worker whose identity has
// exactly that policy, and nothing else, runs every deployment of the pool
// without one refused call, and doctor finds nothing to fix.
func TestWorkerUnderTheAWSPolicyOutput(t *testing.T) {
	p := clitest.PrefectServer(t, prefectfake.Options{})
	a := clitest.AWSServer(t)
	a.CreateRole("ecsTaskExecutionRole", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	flow := p.CreateFlow("etl")
	vars := map[string]any{
		"cluster":                   "flows",
		"execution_role_arn":        "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
		"configure_cloudwatch_logs": true,
		"cloudwatch_logs_options":   map[string]any{"awslogs-create-group": "true"},
	}
	nightly := p.CreateDeployment(flow["id"].(string), "nightly", "ecs-pool", "", vars)["id"].(string)
	hourly := p.CreateDeployment(flow["id"].(string), "hourly", "ecs-pool", "", map[string]any{"cluster": "flows", "auto_deregister_task_definition": true})["id"].(string)
	// The pool must exist before aws-policy reads it: a first worker
	// creates it with the default template, as on a first start.
	if r := clitest.Run(t, "", "worker", "start", "--pool", "ecs-pool", "--run-once"); r.Code != 0 {
		t.Fatalf("first worker: %s", r.Stderr)
	}

	pol := clitest.Run(t, "", "aws-policy", "--pool", "ecs-pool", "--account", "123456789012")
	if pol.Code != 0 {
		t.Fatalf("aws-policy: exit %d\n%s", pol.Code, pol.Stderr)
	}
	if err := a.SetIdentityPolicy("", pol.Stdout); err != nil {
		t.Fatalf("IAM would refuse the policy aws-policy printed: %v\n%s", err, pol.Stdout)
	}
	for _, dep := range []string{nightly, hourly, nightly, hourly} {
		p.CreateFlowRun(dep, nil, time.Time{})
	}
	r := clitest.Run(t, "", "worker", "start", "--pool", "ecs-pool", "--run-once", "--log-format", "json")
	if r.Code != 0 {
		t.Fatalf("worker: exit %d\n%s", r.Code, r.Stderr)
	}
	if n := len(a.Tasks()); n != 4 {
		t.Errorf("%d tasks under the printed policy, want 4:\n%s", n, r.Stderr)
	}
	if d := a.Denied(); len(d) != 0 {
		t.Errorf("calls refused under the printed policy: %v\npolicy:\n%s", d, pol.Stdout)
	}
	if strings.Contains(r.Stderr, "AWS denied") {
		t.Errorf("the worker warned about a refused action:\n%s", r.Stderr)
	}

	// Doctor, under that policy alone, skips what it may not read; given
	// its own read actions too, it checks everything and passes.
	doc := clitest.Run(t, "", "doctor", "--pool", "ecs-pool")
	if doc.Code != 0 || !strings.Contains(doc.Stdout, " 0 failed") || !strings.Contains(doc.Stdout, "grant: iam:SimulatePrincipalPolicy") {
		t.Errorf("doctor under the printed policy: exit %d\n%s\n%s", doc.Code, doc.Stdout, doc.Stderr)
	}
	var policy map[string]any
	if err := json.Unmarshal([]byte(pol.Stdout), &policy); err != nil {
		t.Fatal(err)
	}
	policy["Statement"] = append(policy["Statement"].([]any), map[string]any{"Effect": "Allow", "Action": doctor.Actions(), "Resource": "*"})
	withDoctor, _ := json.Marshal(policy)
	if err := a.SetIdentityPolicy("", string(withDoctor)); err != nil {
		t.Fatal(err)
	}
	doc = clitest.Run(t, "", "doctor", "--pool", "ecs-pool")
	if doc.Code != 0 || !strings.Contains(doc.Stdout, " 0 failed, 0 skipped") || !strings.Contains(doc.Stdout, "✓ Permissions of") {
		t.Errorf("doctor with its own actions granted: exit %d\n%s\n%s", doc.Code, doc.Stdout, doc.Stderr)
	}
}
