package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/sandbox"
	"github.com/ecsworker/ecsworker/internal/sandbox/sandboxreport"
)

// TestSandbox runs the whole demo over real loopback sockets, a few times
// faster than a person would watch it, and checks that every scenario
// ended where it should, with one task each, and that nothing secret was
// printed. The sandbox waits on its own clock; the test never sleeps.
func TestSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sandbox for about 20 s")
	}
	// Settings of a real Prefect in the environment must not leak into
	// the simulated containers or the report.
	t.Setenv("PREFECT_API_KEY", "pnu_real_key_that_must_not_leak")
	t.Setenv("AWS_PROFILE", "someone-elses-profile")

	var out, progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sum, err := sandbox.Run(ctx, sandbox.Options{Out: &out, Err: &progress, JSON: true, Speed: 5})
	if err != nil {
		t.Fatalf("sandbox: %v\n%s", err, progress.String())
	}
	if !sum.OK {
		t.Errorf("mismatches: %q\n%s", sum.Mismatches, progress.String())
	}

	var parsed sandboxreport.Summary
	if err := json.Unmarshal(out.Bytes(), &parsed); err != nil {
		t.Fatalf("stdout is not the JSON summary: %v\n%s", err, out.String())
	}
	if !parsed.Simulated || !strings.Contains(parsed.Notice, "SIMULATED") {
		t.Errorf("the JSON summary does not say it was simulated: %+v", parsed)
	}
	scenarios := sandbox.Scenarios()
	if len(parsed.Runs) != len(scenarios) {
		t.Fatalf("%d runs, want one per scenario (%d)", len(parsed.Runs), len(scenarios))
	}
	for i, r := range parsed.Runs {
		sc := scenarios[i]
		if r.Scenario != sc.Name || r.FinalState != sc.Expect {
			t.Errorf("run %s (%s): final state %q, want %q", r.Name, r.Scenario, r.FinalState, sc.Expect)
		}
		if r.Tasks != 1 {
			t.Errorf("run %s (%s): %d tasks, want exactly 1", r.Name, r.Scenario, r.Tasks)
		}
		if sc.Diagnosis != "" && !strings.Contains(strings.ToLower(r.Message), sc.Diagnosis) {
			t.Errorf("run %s (%s): message %q does not mention %q", r.Name, r.Scenario, r.Message, sc.Diagnosis)
		}
		if r.RunTaskCalls < max(1, sc.MinRunTaskAttempts) {
			t.Errorf("run %s (%s): %d RunTask calls, want at least %d", r.Name, r.Scenario, r.RunTaskCalls, sc.MinRunTaskAttempts)
		}
	}
	if parsed.AWSCalls["ecs:RunTask"] == 0 || len(parsed.PrefectCalls) == 0 {
		t.Errorf("call counts missing: aws %v prefect %v", parsed.AWSCalls, parsed.PrefectCalls)
	}
	req := parsed.ECSRequests
	if req == nil || req.RunTask == nil || req.RegisterTaskDefinition == nil {
		t.Fatalf("no ECS requests in the summary: %+v", req)
	}
	if !strings.Contains(string(req.RunTask), `"DATABASE_PASSWORD"`) || !strings.Contains(string(req.RunTask), `"********"`) {
		t.Errorf("the RunTask request should show the demo password masked:\n%s", req.RunTask)
	}
	if strings.Contains(string(req.RunTask), "PREFECT_API_KEY") {
		t.Errorf("the user's PREFECT_API_KEY reached the simulated container:\n%s", req.RunTask)
	}

	text := progress.String()
	for _, want := range []string{"SIMULATED AWS", "LOCAL test Prefect API", "RegisterTaskDefinition", "RunTask", "Summary"} {
		if !strings.Contains(text, want) {
			t.Errorf("progress output lacks %q", want)
		}
	}
	if first, last := strings.Index(text, "SIMULATED"), strings.LastIndex(text, "SIMULATED"); first > 200 || last < len(text)-300 {
		t.Errorf("the SIMULATED label should open and close the output")
	}
	// The sandbox's made-up secrets look like these; none may be printed.
	secret := regexp.MustCompile(`sandbox-(secret|password)-[0-9a-f]+|AKIASANDBOX|pnu_real_key`)
	for name, s := range map[string]string{"stdout": out.String(), "stderr": text} {
		if m := secret.FindString(s); m != "" {
			t.Errorf("%s shows a secret: %s", name, m)
		}
	}
	if testing.Verbose() {
		_, _ = os.Stdout.WriteString(text) // shown with -v only, as t.Log would
	}
}
