package devcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/cli/clikit"
)

// runSandboxCmd runs the sandbox command as Main would, returning the
// exit code Main would give.
func runSandboxCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := NewSandbox(clikit.IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	cmd.SetArgs(args)
	cmd.SetOut(&errb)
	cmd.SetErr(&errb)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	var ce *clikit.CodedError
	switch {
	case err == nil:
	case errors.As(err, &ce):
		code = ce.Code
	default:
		code = clikit.ExitInvalid
	}
	return code, out.String(), errb.String()
}

func TestSandboxCommandFlags(t *testing.T) {
	for _, args := range [][]string{{"--runs", "0"}, {"--speed", "0"}, {"--speed", "500"}} {
		if code, _, _ := runSandboxCmd(t, args...); code != clikit.ExitInvalid {
			t.Errorf("%v: exit %d, want %d", args, code, clikit.ExitInvalid)
		}
	}
}

// TestSandboxCommandJSON runs one demo flow run through the command: the
// JSON summary alone on stdout, the labelled progress on stderr, exit 0.
func TestSandboxCommandJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sandbox for about 10 s")
	}
	code, stdout, stderr := runSandboxCmd(t, "--runs", "1", "--speed", "10", "--json")
	if code != clikit.ExitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var sum struct {
		Simulated bool `json:"simulated"`
		OK        bool `json:"ok"`
		Runs      []struct {
			Scenario, FinalState string
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, stdout)
	}
	if !sum.Simulated || !sum.OK || len(sum.Runs) != 1 {
		t.Errorf("summary: %+v", sum)
	}
	if !strings.Contains(stderr, "SIMULATED AWS") || strings.Contains(stderr, "keeps running") {
		t.Errorf("progress on stderr should be labelled SIMULATED and not offer to keep running:\n%s", stderr)
	}
}
