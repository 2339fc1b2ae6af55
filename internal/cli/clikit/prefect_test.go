package clikit_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/cli/clitest"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

func TestPrefectAPIURLFlagIsNamed(t *testing.T) {
	t.Setenv("PREFECT_HOME", t.TempDir())
	t.Setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
	r := clitest.Run(t, "", "work-pool", "ls", "--api-url", "127.0.0.1:4200")
	if r.Code != 2 || !strings.Contains(r.Stderr, `--api-url="127.0.0.1:4200": must start with http:// or https://`) ||
		strings.Contains(r.Stderr, "PREFECT_API_URL=") {
		t.Errorf("bad --api-url: %+v", r)
	}

	// The same value from the environment or a profile names that source.
	t.Setenv("PREFECT_API_URL", "127.0.0.1:4200")
	r = clitest.Run(t, "", "work-pool", "ls")
	if r.Code != 2 || !strings.Contains(r.Stderr, `PREFECT_API_URL="127.0.0.1:4200" (from the environment variable PREFECT_API_URL)`) {
		t.Errorf("bad PREFECT_API_URL: %+v", r)
	}
	home := t.TempDir()
	t.Setenv("PREFECT_HOME", home)
	t.Setenv("PREFECT_API_URL", "")
	profiles := "active = \"work\"\n[profiles.work]\nPREFECT_API_URL = \"localhost:4200/api\"\n"
	if err := os.WriteFile(filepath.Join(home, "profiles.toml"), []byte(profiles), 0o600); err != nil {
		t.Fatal(err)
	}
	r = clitest.Run(t, "", "work-pool", "ls")
	if r.Code != 2 || !strings.Contains(r.Stderr, `PREFECT_API_URL="localhost:4200/api" (from profile "work" in `+filepath.Join(home, "profiles.toml")+`)`) {
		t.Errorf("bad profile URL: %+v", r)
	}
}

// TestPrefectAPIClientWarnings: the client's warnings reach the command's
// stderr (it used to log nowhere), and its secrets do not.
func TestPrefectAPIClientWarnings(t *testing.T) {
	clitest.PrefectServer(t, prefectfake.Options{APIKey: "pnu_cli_key"})
	t.Setenv("PREFECT_CLIENT_CUSTOM_HEADERS", `{"User-Agent": "mine", "X-Proxy": "proxy-secret"}`)
	r := clitest.Run(t, "", "work-pool", "ls")
	if r.Code != 0 || !strings.Contains(r.Stderr, `level=WARN msg="ignoring a custom header that the Prefect client manages itself" header=User-Agent`) {
		t.Errorf("ls: %+v", r)
	}
	if strings.Contains(r.Stderr, "time=") || strings.Contains(r.Stderr+r.Stdout, "pnu_cli_key") || strings.Contains(r.Stderr+r.Stdout, "proxy-secret") {
		t.Errorf("stderr %q", r.Stderr)
	}
}

// TestPrefectAPIDeepErrorBody: a 404 of six million "[" and "]" ended
// `work-pool ls` with "fatal error: stack overflow".
func TestPrefectAPIDeepErrorBody(t *testing.T) {
	s := clitest.PrefectServer(t, prefectfake.Options{})
	s.InjectFault(prefectfake.Fault{Path: "/work_pools/filter", Status: 404,
		Body: strings.Repeat("[", 6_000_000) + strings.Repeat("]", 6_000_000)})
	r := clitest.Run(t, "", "work-pool", "ls")
	if r.Code != 1 || !strings.Contains(r.Stderr, "404 Not Found: a JSON body of 1048576 bytes nested too deeply to read") ||
		len(r.Stderr) > 2000 {
		t.Errorf("ls: code %d, stderr %.3000s", r.Code, r.Stderr)
	}
}

func TestInputLimits(t *testing.T) {
	clitest.PrefectServer(t, prefectfake.Options{})
	dir := t.TempDir()
	deep := filepath.Join(dir, "deep.json")
	if err := os.WriteFile(deep, []byte(strings.Repeat("[", 6_000_000)+strings.Repeat("]", 6_000_000)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := clitest.Run(t, "", "work-pool", "create", "p", "--base-job-template", deep)
	if r.Code != 2 || !strings.Contains(r.Stderr, "--base-job-template "+deep+": parse base job template: JSON nested deeper than 512 levels at offset 512 (line 1, column 513)") {
		t.Errorf("deep template: code %d, stderr %.2000s", r.Code, r.Stderr)
	}

	big := filepath.Join(dir, "big.json")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(16<<20 + 1); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	r = clitest.Run(t, "", "work-pool", "create", "p", "--base-job-template", big)
	if r.Code != 2 || !strings.Contains(r.Stderr, "--base-job-template "+big+": the file is larger than 16 MiB, the most ecsworker reads for it") {
		t.Errorf("big template: %+v", r)
	}
	r = clitest.Run(t, strings.Repeat(" ", 16<<20+1), "work-pool", "create", "p", "--base-job-template", "-")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--base-job-template -: standard input holds more than 16 MiB") {
		t.Errorf("big stdin: %+v", r)
	}
	// Within the limit, a padded template is fine.
	tmpl := clitest.Run(t, "", "work-pool", "get-default-base-job-template", "--type", "ecs")
	r = clitest.Run(t, tmpl.Stdout+strings.Repeat(" ", 8<<20), "work-pool", "create", "p", "--base-job-template", "-")
	if r.Code != 0 {
		t.Errorf("template within the limit: %+v", r)
	}
}
