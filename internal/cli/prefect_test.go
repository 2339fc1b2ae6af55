package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
)

func TestPrefectAPIURLFlagIsNamed(t *testing.T) {
	t.Setenv("PREFECT_HOME", t.TempDir())
	t.Setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
	r := run(t, "", "work-pool", "ls", "--api-url", "127.0.0.1:4200")
	if r.code != 2 || !strings.Contains(r.err, `--api-url="127.0.0.1:4200": must start with http:// or https://`) ||
		strings.Contains(r.err, "PREFECT_API_URL=") {
		t.Errorf("bad --api-url: %+v", r)
	}

	// The same value from the environment or a profile names that source.
	t.Setenv("PREFECT_API_URL", "127.0.0.1:4200")
	r = run(t, "", "work-pool", "ls")
	if r.code != 2 || !strings.Contains(r.err, `PREFECT_API_URL="127.0.0.1:4200" (from the environment variable PREFECT_API_URL)`) {
		t.Errorf("bad PREFECT_API_URL: %+v", r)
	}
	home := t.TempDir()
	t.Setenv("PREFECT_HOME", home)
	t.Setenv("PREFECT_API_URL", "")
	profiles := "active = \"work\"\n[profiles.work]\nPREFECT_API_URL = \"localhost:4200/api\"\n"
	if err := os.WriteFile(filepath.Join(home, "profiles.toml"), []byte(profiles), 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, "", "work-pool", "ls")
	if r.code != 2 || !strings.Contains(r.err, `PREFECT_API_URL="localhost:4200/api" (from profile "work" in `+filepath.Join(home, "profiles.toml")+`)`) {
		t.Errorf("bad profile URL: %+v", r)
	}
}

// TestPrefectAPIClientWarnings: the client's warnings reach the command's
// stderr (it used to log nowhere), and its secrets do not.
func TestPrefectAPIClientWarnings(t *testing.T) {
	prefectServer(t, prefectfake.Options{APIKey: "pnu_cli_key"})
	t.Setenv("PREFECT_CLIENT_CUSTOM_HEADERS", `{"User-Agent": "mine", "X-Proxy": "proxy-secret"}`)
	r := run(t, "", "work-pool", "ls")
	if r.code != 0 || !strings.Contains(r.err, `level=WARN msg="ignoring a custom header that the Prefect client manages itself" header=User-Agent`) {
		t.Errorf("ls: %+v", r)
	}
	if strings.Contains(r.err, "time=") || strings.Contains(r.err+r.stdout, "pnu_cli_key") || strings.Contains(r.err+r.stdout, "proxy-secret") {
		t.Errorf("stderr %q", r.err)
	}
}

// TestPrefectAPIDeepErrorBody: a 404 of six million "[" and "]" ended
// `work-pool ls` with "fatal error: stack overflow".
func TestPrefectAPIDeepErrorBody(t *testing.T) {
	s := prefectServer(t, prefectfake.Options{})
	s.InjectFault(prefectfake.Fault{Path: "/work_pools/filter", Status: 404,
		Body: strings.Repeat("[", 6_000_000) + strings.Repeat("]", 6_000_000)})
	r := run(t, "", "work-pool", "ls")
	if r.code != 1 || !strings.Contains(r.err, "404 Not Found: a JSON body of 1048576 bytes nested too deeply to read") ||
		len(r.err) > 2000 {
		t.Errorf("ls: code %d, stderr %.3000s", r.code, r.err)
	}
}

func TestInputLimits(t *testing.T) {
	prefectServer(t, prefectfake.Options{})
	dir := t.TempDir()
	deep := filepath.Join(dir, "deep.json")
	if err := os.WriteFile(deep, []byte(strings.Repeat("[", 6_000_000)+strings.Repeat("]", 6_000_000)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", "work-pool", "create", "p", "--base-job-template", deep)
	if r.code != 2 || !strings.Contains(r.err, "--base-job-template "+deep+": parse base job template: JSON nested deeper than 512 levels at offset 512 (line 1, column 513)") {
		t.Errorf("deep template: code %d, stderr %.2000s", r.code, r.err)
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
	r = run(t, "", "work-pool", "create", "p", "--base-job-template", big)
	if r.code != 2 || !strings.Contains(r.err, "--base-job-template "+big+": the file is larger than 16 MiB, the most ecsworker reads for it") {
		t.Errorf("big template: %+v", r)
	}
	r = run(t, strings.Repeat(" ", 16<<20+1), "work-pool", "create", "p", "--base-job-template", "-")
	if r.code != 2 || !strings.Contains(r.err, "--base-job-template -: standard input holds more than 16 MiB") {
		t.Errorf("big stdin: %+v", r)
	}
	// Within the limit, a padded template is fine.
	tmpl := run(t, "", "work-pool", "get-default-base-job-template", "--type", "ecs")
	r = run(t, tmpl.stdout+strings.Repeat(" ", 8<<20), "work-pool", "create", "p", "--base-job-template", "-")
	if r.code != 0 {
		t.Errorf("template within the limit: %+v", r)
	}
}
