package cli_test

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/cli/clitest"
)

func TestVersion(t *testing.T) {
	// A test binary has no stamp and no module version: the fallbacks.
	tests := []struct {
		args  []string
		check func(t *testing.T, out string)
	}{
		{[]string{"version"}, func(t *testing.T, out string) {
			want := []string{
				"ecsworker dev",
				"  commit:   ",
				"  date:     ",
				"  go:       " + runtime.Version(),
				"  platform: " + runtime.GOOS + "/" + runtime.GOARCH,
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != len(want) {
				t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), out)
			}
			for i, w := range want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("line %d = %q, want prefix %q", i+1, lines[i], w)
				}
			}
		}},
		{[]string{"version", "--json"}, func(t *testing.T, out string) {
			var got map[string]string
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("not one JSON object: %v\n%s", err, out)
			}
			want := map[string]string{
				"version": "dev", "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH,
			}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("%s = %q, want %q", k, got[k], w)
				}
			}
			for _, k := range []string{"commit", "date"} {
				if got[k] == "" {
					t.Errorf("%s is empty, want a value or %q", k, "unknown")
				}
			}
			if len(got) != 5 {
				t.Errorf("fields %v, want exactly version, commit, date, go, platform", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := clitest.Run(t, "", tt.args...)
			if r.Code != 0 || r.Stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
			}
			tt.check(t, r.Stdout)
		})
	}
}
