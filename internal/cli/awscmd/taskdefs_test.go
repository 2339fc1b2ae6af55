package awscmd_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/cli/clitest"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

// pruneEnv points the AWS SDK at the AWS test server, with static
// credentials and empty shared config files, and no region unless a test
// sets one.
func pruneEnv(t *testing.T) *awsfake.Server {
	t.Helper()
	a := awsfake.NewTestServer(t, awsfake.Options{})
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": a.URL(), "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	} {
		t.Setenv(k, v)
	}
	return a
}

// TestPruneAWSFlags: prune takes the infra commands' AWS flags, and its
// errors name them.
func TestPruneAWSFlags(t *testing.T) {
	a := pruneEnv(t)
	tests := map[string]struct {
		args []string
		code int
		want string
	}{
		"no region": {args: []string{"--family", "etl"}, code: 2,
			want: "no AWS region: pass --region, set AWS_REGION, or set a region in your AWS profile (--aws-profile)"},
		"unknown AWS profile": {args: []string{"--family", "etl", "--aws-profile", "nope"}, code: 2,
			want: `--aws-profile "nope": no such profile in ~/.aws/config or ~/.aws/credentials (or AWS_CONFIG_FILE); add it, or use another profile`},
		"the AWS CLI's --profile": {args: []string{"--family", "etl", "--profile", "prod", "--region", "us-east-1"}, code: 2,
			want: `--profile "prod": the AWS profile is --aws-profile prod (--profile is the Prefect profile, and this command does not talk to Prefect)`},
		"no family": {args: []string{"--region", "us-east-1"}, code: 2, want: "--family is required"},
		"region":    {args: []string{"--family", "etl", "--region", "eu-west-1", "--dry-run"}, code: 0, want: "Would deregister 0 revision(s) of etl"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := calls(a)
			r := clitest.Run(t, "", append([]string{"task-definitions", "prune"}, tc.args...)...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", r.Code, tc.code, tc.want, r.Stderr)
			}
			if tc.code != 0 && calls(a) != before {
				t.Errorf("AWS was called for a refused command")
			}
			if strings.Contains(r.Stderr, "aws_credentials") {
				t.Errorf("the message speaks of the worker's aws_credentials block:\n%s", r.Stderr)
			}
		})
	}
}

func TestPruneHelp(t *testing.T) {
	r := clitest.Run(t, "", "task-definitions", "prune", "--help")
	if r.Code != 0 {
		t.Fatalf("help: %+v", r)
	}
	for _, want := range []string{"--aws-profile and --region.", "--aws-profile PROFILE", "--region REGION"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("help lacks %q:\n%s", want, r.Stdout)
		}
	}
	if strings.Contains(strings.ReplaceAll(r.Stdout, "--aws-profile", ""), "--profile") {
		t.Errorf("help names --profile, the Prefect profile flag:\n%s", r.Stdout)
	}
}

func calls(a *awsfake.Server) int {
	n := 0
	for _, c := range a.Calls() {
		n += c
	}
	return n
}

func TestPruneTaskDefinitions(t *testing.T) {
	p := clitest.PrefectServer(t, prefectfake.Options{})
	a := clitest.AWSServer(t)
	flow := p.CreateFlow("etl")
	dep := p.CreateDeployment(flow["id"].(string), "nightly", "ecs-pool", "", map[string]any{"cluster": "flows", "family": "etl"})
	// Four runs with four memory sizes: four revisions of one family.
	for _, mem := range []int{1024, 2048, 3072, 4096} {
		p.CreateFlowRun(dep["id"].(string), map[string]any{"cpu": 512, "memory": mem}, time.Time{})
	}
	if r := clitest.Run(t, "", "worker", "start", "--pool", "ecs-pool", "--run-once"); r.Code != 0 {
		t.Fatalf("worker: %s", r.Stderr)
	}
	if n := len(a.TaskDefinitions()); n != 4 {
		t.Fatalf("%d revisions, want 4", n)
	}
	r := clitest.Run(t, "", "task-definitions", "prune", "--family", "etl", "--keep", "1", "--dry-run")
	if r.Code != 0 || strings.Count(r.Stdout, "Would deregister") != 3 {
		t.Fatalf("dry run: %+v", r)
	}
	r = clitest.Run(t, "", "task-definitions", "prune", "--family", "etl", "--keep", "1")
	if r.Code != 0 || strings.Count(r.Stdout, "Deregistered") != 3 {
		t.Fatalf("prune: %+v", r)
	}
	active := 0
	for _, td := range a.TaskDefinitions() {
		if td.Status == "ACTIVE" {
			active++
		}
	}
	if active != 1 {
		t.Errorf("%d revisions still active, want 1", active)
	}
	if r := clitest.Run(t, "", "task-definitions", "prune"); r.Code != 2 || !strings.Contains(r.Stderr, "--family") {
		t.Errorf("without --family: %+v", r)
	}
}
