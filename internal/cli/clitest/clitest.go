// Package clitest is what the tests of the command groups share: running
// ecsworker as a user would, through cli.Main, and pointing it at the
// Prefect and AWS test servers.
package clitest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/cli"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

// Result is how a command line ended and what it printed.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs the command line args with stdin as standard input.
func Run(t *testing.T, stdin string, args ...string) Result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), args, cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return Result{code, out.String(), errb.String()}
}

// PrefectServer starts the Prefect API test server and points the CLI at it.
func PrefectServer(t *testing.T, opts prefectfake.Options) *prefectfake.Server {
	t.Helper()
	s := prefectfake.NewTestServer(t, opts)
	t.Setenv("PREFECT_HOME", t.TempDir())
	t.Setenv("PREFECT_API_URL", s.URL())
	t.Setenv("PREFECT_API_KEY", opts.APIKey)
	t.Setenv("PREFECT_API_AUTH_STRING", opts.AuthString)
	return s
}

// AWSServer starts the AWS test server with a cluster "flows" and points
// the standard AWS chain at it (and away from the machine's own config).
func AWSServer(t *testing.T) *awsfake.Server {
	t.Helper()
	a := awsfake.NewTestServer(t, awsfake.Options{})
	a.CreateCluster("flows")
	t.Setenv("AWS_ENDPOINT_URL", a.URL())
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-value-xyz")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return a
}

// DefaultTemplateMap is ecsworker's default base job template, as the
// Prefect API test server stores a pool's.
func DefaultTemplateMap(t *testing.T) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(ecsjob.DefaultTemplateJSON(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// MustContain fails the test for each of wants that got, which is what
// names, lacks.
func MustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}
