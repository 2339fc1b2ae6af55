package clikit_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/cli"
	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

// TestWorkPoolDeleteAsks runs delete through Main as a person at a
// terminal would: the answer decides.
func TestWorkPoolDeleteAsks(t *testing.T) {
	s := prefectfake.NewTestServer(t, prefectfake.Options{})
	t.Setenv("PREFECT_HOME", t.TempDir())
	t.Setenv("PREFECT_API_URL", s.URL())
	t.Setenv("PREFECT_API_KEY", "")
	t.Setenv("PREFECT_API_AUTH_STRING", "")
	s.CreateWorkPool("etl", "ecs", nil)
	clikit.AsTerminal(t)
	deleteWith := func(answer string) (int, string) {
		var errb bytes.Buffer
		code := cli.Main(context.Background(), []string{"work-pool", "delete", "etl"}, cli.IO{In: strings.NewReader(answer), Out: io.Discard, Err: &errb})
		return code, errb.String()
	}
	if code, stderr := deleteWith("n\n"); code != clikit.ExitError || s.WorkPool("etl") == nil || !strings.Contains(stderr, "not confirmed") {
		t.Fatalf("answered n: exit %d, pool %v\n%s", code, s.WorkPool("etl"), stderr)
	}
	if code, stderr := deleteWith("y\n"); code != clikit.ExitOK || s.WorkPool("etl") != nil || !strings.Contains(stderr, `Deleted work pool "etl"`) {
		t.Fatalf("answered y: exit %d, pool %v\n%s", code, s.WorkPool("etl"), stderr)
	}
}
