package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/bench/internal/report"
)

// TestRenderPrintsTheSummary runs the command on the JSON of an earlier
// run: the summary on stdout, no JSON, and the report where -out says.
func TestRenderPrintsTheSummary(t *testing.T) {
	// Enough for the summary and the report to be written: every goal
	// reads as not run.
	o := report.Settings{Sizes: []int{100}, MemSizes: []int{200}, Deployments: 20, RestartDeployments: 5, LatencyRuns: 40, Quick: true}
	b, err := json.Marshal(saved{Machine: report.Machine{Commit: "abc1234"}, Settings: o, TookSeconds: 42})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data, out := filepath.Join(dir, "b.json"), filepath.Join(dir, "b.md")
	if err := os.WriteFile(data, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-render", data, "-out", out}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout.String(), "ecsworker bench (-quick") || strings.Contains(stdout.String(), `"results"`) ||
		!strings.Contains(stdout.String(), "findings: "+out) || !strings.Contains(stdout.String(), "JSON: "+data) {
		t.Errorf("stdout should be the summary alone:\n%s", stdout.String())
	}
	if md, err := os.ReadFile(out); err != nil || !strings.HasPrefix(string(md), "# Benchmarks") {
		t.Errorf("report not written to -out: %v", err)
	}
}
