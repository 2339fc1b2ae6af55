package iampolicy_test

import (
	"os"
	"strings"
	"testing"

	goldenfile "github.com/ecsworker/ecsworker/internal/golden"
	"github.com/ecsworker/ecsworker/internal/iampolicy"
)

const (
	tableStart = "<!-- permissions table: generated from internal/iampolicy/actions.go by go test ./internal/iampolicy -update -->\n"
	tableEnd   = "<!-- end of the permissions table -->"
)

// The README's table of AWS actions is the catalog's: it cannot drift.
func TestREADMEPermissionsTable(t *testing.T) {
	const path = "../../README.md"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	start := strings.Index(readme, tableStart)
	end := strings.Index(readme, tableEnd)
	if start < 0 || end < start {
		t.Fatalf("README.md lacks the permissions table markers %q ... %q", strings.TrimSpace(tableStart), tableEnd)
	}
	want := iampolicy.MarkdownTable()
	got := readme[start+len(tableStart) : end]
	if got == want {
		return
	}
	if *goldenfile.Update {
		if err := os.WriteFile(path, []byte(readme[:start+len(tableStart)]+want+readme[end:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's permissions table differs from the catalog; run go test ./internal/iampolicy -update")
}

// Every action the catalog marks as the Python worker's is in Prefect's
// documented policy, and the catalog covers the whole policy but
// logs:PutLogEvents, which ecsworker never calls.
func TestCatalogMatchesPrefectsPolicy(t *testing.T) {
	prefect := []string{"ec2:DescribeSubnets", "ec2:DescribeVpcs", "ecs:DeregisterTaskDefinition", "ecs:DescribeTaskDefinition",
		"ecs:DescribeTasks", "ecs:RegisterTaskDefinition", "ecs:RunTask", "ecs:StopTask", "ecs:TagResource", "iam:PassRole",
		"logs:GetLogEvents", "logs:PutLogEvents"}
	for _, a := range iampolicy.Actions {
		in := false
		for _, p := range prefect {
			in = in || p == a.Name
		}
		if a.Python != in {
			t.Errorf("%s: Python %v, but in Prefect's documented policy: %v", a.Name, a.Python, in)
		}
		if a.UsedFor == "" || a.Without == "" {
			t.Errorf("%s: says neither what it is for nor what is lost without it", a.Name)
		}
	}
	for _, p := range prefect {
		if _, ok := iampolicy.Lookup(p); !ok && p != "logs:PutLogEvents" {
			t.Errorf("%s of Prefect's policy is not in the catalog", p)
		}
	}
}
