package cli_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// The -update flag rewrites the golden files. It is registered only if no
// other test file of the package registered it first, so that two golden
// tests can share it.
var _ = func() bool {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files under testdata")
	}
	return true
}()

func updatingGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const renderTestdata = "testdata/render/"

// The secrets of the render tests: none may appear on stdout or stderr.
const (
	goldenAPIKey    = "pnu_GoldenTestKey0123456789abcdef"
	goldenURLPass   = "pw-golden-9"
	goldenAWSSecret = "env-aws-secret-key-value"
)

var renderSecrets = []string{
	goldenAPIKey, goldenURLPass, goldenAWSSecret,
	"hunter22", "pg-Secret-9", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AKIAIOSFODNN7EXAMPLE",
}

// renderEnv gives render a known environment: no PREFECT_* or AWS_*
// setting of the machine running the tests (the flow run context copies
// PREFECT_* into the output), an empty Prefect home, and the secrets above.
func renderEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PREFECT_") || strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "") // restores the value after the test
			if err := os.Unsetenv(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A fixed path: the flow run context copies it into the output.
	t.Setenv("PREFECT_HOME", "/nonexistent/ecsworker-render-test")
	t.Setenv("PREFECT_API_URL", "http://admin:"+goldenURLPass+"@prefect.internal:4200/api")
	t.Setenv("PREFECT_API_KEY", goldenAPIKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", goldenAWSSecret)
	t.Setenv("AWS_REGION", "us-east-1")
}

func checkNoSecrets(t *testing.T, r result, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.stdout+r.err, s) {
			t.Errorf("the secret %q leaked into the output:\n%s\n%s", s, r.stdout, r.err)
		}
	}
}

// TestRenderGolden runs render as a user would and compares exit code,
// stderr and stdout with testdata/render/*.golden (go test -update
// rewrites them).
func TestRenderGolden(t *testing.T) {
	secrets := "@" + renderTestdata + "secrets.job-variables.json"
	tests := []struct {
		name  string
		stdin string
		args  []string
	}{
		// DB_PASS, DATABASE_URL with a password, PREFECT_API_URL with
		// user-info, the API key under an ordinary name and in the command,
		// an AWS key from the environment under an ordinary name: all
		// masked; ARNs, image and the secrets' ARNs stay readable.
		{name: "secrets-aws", args: []string{"--flow-run", examples + "flow-run.json", "--job-variables", secrets}},
		{name: "secrets-job-configuration", args: []string{"--output", "job-configuration", "--flow-run", examples + "flow-run.json", "--job-variables", secrets}},
		// A pool whose template is {} renders the default template, and
		// says so (it used to claim no pool was given).
		{name: "pool-with-empty-template", args: []string{"--work-pool", examples + "work-pool.json"}},
		{name: "pool-without-template", stdin: `{"name": "p", "type": "ecs"}`, args: []string{"--work-pool", "-"}},
		{name: "template-given-as-pool", stdin: `{"job_configuration": {}, "variables": {}}`, args: []string{"--work-pool", "-"}},
		// Only the notes about what is printed: the job configuration's
		// placeholder, not the requests' markers.
		{name: "unresolved-job-configuration", args: []string{"--output", "job-configuration", "--base-job-template", renderTestdata + "placeholder.base-job-template.json"}},
		{name: "unresolved-aws", args: []string{"--base-job-template", renderTestdata + "placeholder.base-job-template.json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			renderEnv(t)
			args := append([]string{"render"}, tc.args...)
			r := run(t, tc.stdin, args...)
			checkNoSecrets(t, r, renderSecrets...)
			if r.code == 0 {
				if _, err := jsonv.DecodeObject([]byte(r.stdout)); err != nil {
					t.Errorf("stdout is not one JSON object: %v", err)
				}
			}
			got := "$ ecsworker " + strings.Join(args, " ") + "\n" +
				"exit " + itoa(r.code) + "\n--- stderr\n" + r.err + "--- stdout\n" + r.stdout
			file := filepath.Join(renderTestdata, tc.name+".golden")
			if updatingGolden() {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("output differs from %s (go test -update rewrites it):\n%s", file, got)
			}
		})
	}
}

func itoa(n int) string {
	if n >= 0 && n < 10 {
		return string(rune('0' + n))
	}
	return "?"
}

// TestRenderMasksSecrets checks each masking rule on its own, and that
// stderr says once where values were masked.
func TestRenderMasksSecrets(t *testing.T) {
	tests := map[string]struct {
		vars    string
		stdout  []string          // must appear
		env     map[string]string // RunTask environment
		stderr  []string
		secrets []string // must not appear anywhere
	}{
		"secret names": {
			vars:    `{"env": {"DB_PASS": "pw", "SMTP_PASSWORD": "smtp-pw", "GITHUB_TOKEN": "ghp_abcdef", "STRIPE_SECRET": "sk_live_1", "SIGNING_KEY": "k-12345"}}`,
			env:     map[string]string{"DB_PASS": "********", "SMTP_PASSWORD": "********", "GITHUB_TOKEN": "********"},
			stderr:  []string{"DB_PASS, GITHUB_TOKEN, PREFECT_API_KEY, PREFECT_API_URL, SIGNING_KEY, SMTP_PASSWORD, STRIPE_SECRET"},
			secrets: []string{"smtp-pw", "ghp_abcdef", "sk_live_1", "k-12345"},
		},
		"URL passwords keep the URL": {
			vars:    `{"env": {"DATABASE_URL": "postgres://u:pw@db:5432/app", "REDIS_URI": "redis://:redis-pass@cache:6379/0", "CALLBACK": "https://hooks.internal/x?token=tok-123456&x=1"}}`,
			stdout:  []string{`postgres://u:********@db:5432/app`, `redis://:********@cache:6379/0`, `https://hooks.internal/x?token=********&x=1`, `http://admin:********@prefect.internal:4200/api`},
			secrets: []string{"redis-pass", "tok-123456"},
		},
		"the API key anywhere": {
			vars:   `{"env": {"SETTINGS": "{\"key\": \"` + goldenAPIKey + `\"}"}, "command": "prefect --key=` + goldenAPIKey + `", "name": "run-` + goldenAPIKey + `"}`,
			stdout: []string{`"SETTINGS"`, `"value": "{\"key\": \"********\"}"`, `"--key=********"`},
			stderr: []string{"note: secret values are shown as ******** (in", "SETTINGS", "command"},
		},
		"ordinary values stay": {
			vars:   `{"env": {"SECRET_NAME": "prod/db", "TOKENIZERS_PARALLELISM": "false", "DB_PASSWORD_FILE": "/run/secrets/db"}, "image": "prefecthq/prefect:3-latest", "execution_role_arn": "arn:aws:iam::123456789012:role/exec"}`,
			stdout: []string{`"value": "prod/db"`, `"value": "false"`, `"value": "/run/secrets/db"`, `"image": "prefecthq/prefect:3-latest"`, `"executionRoleArn": "arn:aws:iam::123456789012:role/exec"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			renderEnv(t)
			r := run(t, "", "render", "--flow-run", examples+"flow-run.json", "--job-variables", tc.vars)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.err)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %s:\n%s", s, r.stdout)
				}
			}
			for name, want := range tc.env {
				if got := runTaskEnv(t, r.stdout, name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(r.err, s) {
					t.Errorf("stderr lacks %s:\n%s", s, r.err)
				}
			}
			if n := strings.Count(r.err, "secret values are shown as"); n != 1 {
				t.Errorf("the masking note appears %d times:\n%s", n, r.err)
			}
			checkNoSecrets(t, r, append(tc.secrets, renderSecrets...)...)
		})
	}
}

// TestRenderMasksProfileKey: the API key of the configuration in use is
// masked even when it comes from a profile rather than the environment.
func TestRenderMasksProfileKey(t *testing.T) {
	renderEnv(t)
	home := t.TempDir()
	t.Setenv("PREFECT_HOME", home)
	if err := os.Unsetenv("PREFECT_API_KEY"); err != nil {
		t.Fatal(err)
	}
	const key = "pnu_FromTheProfile0123456789"
	profiles := "active = \"cloud\"\n\n[profiles.cloud]\nPREFECT_API_KEY = \"" + key + "\"\nPREFECT_API_AUTH_STRING = \"admin:profile-auth\"\n"
	if err := os.WriteFile(filepath.Join(home, "profiles.toml"), []byte(profiles), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", "render", "--output", "job-configuration", "--job-variables",
		`{"env": {"A": "`+key+`", "B": "admin:profile-auth"}}`)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	checkNoSecrets(t, r, key, "admin:profile-auth")
	if !strings.Contains(r.stdout, `"A": "********"`) || !strings.Contains(r.stdout, `"B": "********"`) {
		t.Errorf("profile secrets not masked:\n%s", r.stdout)
	}
}

// TestRenderMasksBlockSecrets: secrets that render reads from blocks are
// masked wherever the template puts them.
func TestRenderMasksBlockSecrets(t *testing.T) {
	renderEnv(t)
	s := prefectfake.NewTestServer(t, prefectfake.Options{})
	t.Setenv("PREFECT_API_URL", s.URL())
	if err := os.Unsetenv("PREFECT_API_KEY"); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "", "work-pool", "create", "ecs-pool"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	const blockSecret = "blk-Secret-Value-42"
	s.SetBlockDocument("secret", "db-password", map[string]any{"value": blockSecret}, "value")
	creds := s.SetBlockDocument("aws-credentials", "prod", map[string]any{"region_name": "eu-central-1", "aws_access_key_id": "AKIABLOCKEXAMPLE", "aws_secret_access_key": "block-aws-secret"}, "aws_secret_access_key")
	flow := s.CreateFlow("etl")
	s.CreateDeployment(flow["id"].(string), "nightly", "ecs-pool", "", map[string]any{
		"env": map[string]any{
			"PLAIN":   "{{ prefect.blocks.secret.db-password }}",
			"DB_URL":  "postgres://app:{{ prefect.blocks.secret.db-password }}@db/app",
			"COPY_OF": "block-aws-secret",
		},
		"command":         "etl --pw {{ prefect.blocks.secret.db-password }}",
		"aws_credentials": map[string]any{"$ref": map[string]any{"block_document_id": creds}},
	})
	r := run(t, "", "render", "--work-pool", "ecs-pool", "--deployment", "etl/nightly")
	if r.code != 0 {
		t.Fatalf("render: %+v", r)
	}
	checkNoSecrets(t, r, blockSecret, "block-aws-secret", "AKIABLOCKEXAMPLE")
	for name, want := range map[string]string{"PLAIN": "********", "DB_URL": "postgres://app:********@db/app", "COPY_OF": "********"} {
		if got := runTaskEnv(t, r.stdout, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(r.stdout, `"--pw",`) {
		t.Errorf("the command is missing:\n%s", r.stdout)
	}
}

// runTaskEnv returns an environment variable of the RunTask request that
// render printed.
func runTaskEnv(t *testing.T, stdout, name string) string {
	t.Helper()
	out, err := jsonv.DecodeObject([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	for _, co := range out.GetObject("runTask").GetObject("overrides").GetArray("containerOverrides") {
		o, _ := co.(*jsonv.Object)
		for _, e := range o.GetArray("environment") {
			if kv, _ := e.(*jsonv.Object); kv.GetString("name") == name {
				return kv.GetString("value")
			}
		}
	}
	t.Errorf("no %s in the RunTask environment", name)
	return ""
}
