package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
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
			r := run(t, "", append([]string{"task-definitions", "prune"}, tc.args...)...)
			if r.code != tc.code || !strings.Contains(r.err, tc.want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", r.code, tc.code, tc.want, r.err)
			}
			if tc.code != 0 && calls(a) != before {
				t.Errorf("AWS was called for a refused command")
			}
			if strings.Contains(r.err, "aws_credentials") {
				t.Errorf("the message speaks of the worker's aws_credentials block:\n%s", r.err)
			}
		})
	}
}

func TestPruneHelp(t *testing.T) {
	r := run(t, "", "task-definitions", "prune", "--help")
	if r.code != 0 {
		t.Fatalf("help: %+v", r)
	}
	for _, want := range []string{"--aws-profile and --region.", "--aws-profile PROFILE", "--region REGION"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(strings.ReplaceAll(r.stdout, "--aws-profile", ""), "--profile") {
		t.Errorf("help names --profile, the Prefect profile flag:\n%s", r.stdout)
	}
}

func calls(a *awsfake.Server) int {
	n := 0
	for _, c := range a.Calls() {
		n += c
	}
	return n
}
