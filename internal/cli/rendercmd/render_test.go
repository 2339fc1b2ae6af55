package rendercmd_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/cli/clitest"
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

const examples = "../../../examples/"

// goldenExamples is how the goldens' command lines name the examples
// directory: as they did when these tests ran from internal/cli.
const goldenExamples = "../../examples/"

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

func checkNoSecrets(t *testing.T, r clitest.Result, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.Stdout+r.Stderr, s) {
			t.Errorf("the secret %q leaked into the output:\n%s\n%s", s, r.Stdout, r.Stderr)
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
			r := clitest.Run(t, tc.stdin, args...)
			checkNoSecrets(t, r, renderSecrets...)
			if r.Code == 0 {
				if _, err := jsonv.DecodeObject([]byte(r.Stdout)); err != nil {
					t.Errorf("stdout is not one JSON object: %v", err)
				}
			}
			got := "$ ecsworker " + strings.ReplaceAll(strings.Join(args, " "), examples, goldenExamples) + "\n" +
				"exit " + itoa(r.Code) + "\n--- stderr\n" + r.Stderr + "--- stdout\n" + r.Stdout
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
			r := clitest.Run(t, "", "render", "--flow-run", examples+"flow-run.json", "--job-variables", tc.vars)
			if r.Code != 0 {
				t.Fatalf("exit %d: %s", r.Code, r.Stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(r.Stdout, s) {
					t.Errorf("stdout lacks %s:\n%s", s, r.Stdout)
				}
			}
			for name, want := range tc.env {
				if got := runTaskEnv(t, r.Stdout, name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(r.Stderr, s) {
					t.Errorf("stderr lacks %s:\n%s", s, r.Stderr)
				}
			}
			if n := strings.Count(r.Stderr, "secret values are shown as"); n != 1 {
				t.Errorf("the masking note appears %d times:\n%s", n, r.Stderr)
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
	r := clitest.Run(t, "", "render", "--output", "job-configuration", "--job-variables",
		`{"env": {"A": "`+key+`", "B": "admin:profile-auth"}}`)
	if r.Code != 0 {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	checkNoSecrets(t, r, key, "admin:profile-auth")
	if !strings.Contains(r.Stdout, `"A": "********"`) || !strings.Contains(r.Stdout, `"B": "********"`) {
		t.Errorf("profile secrets not masked:\n%s", r.Stdout)
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
	if r := clitest.Run(t, "", "work-pool", "create", "ecs-pool"); r.Code != 0 {
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
	r := clitest.Run(t, "", "render", "--work-pool", "ecs-pool", "--deployment", "etl/nightly")
	if r.Code != 0 {
		t.Fatalf("render: %+v", r)
	}
	checkNoSecrets(t, r, blockSecret, "block-aws-secret", "AKIABLOCKEXAMPLE")
	for name, want := range map[string]string{"PLAIN": "********", "DB_URL": "postgres://app:********@db/app", "COPY_OF": "********"} {
		if got := runTaskEnv(t, r.Stdout, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(r.Stdout, `"--pw",`) {
		t.Errorf("the command is missing:\n%s", r.Stdout)
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

func TestRender(t *testing.T) {
	t.Setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
	t.Setenv("PREFECT_API_KEY", "pnu_TopSecretKey123")
	t.Setenv("AWS_REGION", "us-east-2")

	tests := map[string]struct {
		stdin    string
		args     []string
		code     int
		stdout   []string // must appear on stdout
		stderr   []string // must appear on stderr
		noStdout bool
	}{
		"ec2 placement from a file": {
			args:   []string{"render", "--job-variables", "@" + examples + "ec2-placement.job-variables.json"},
			stdout: []string{`"launchType": "EC2"`, `"placementStrategy"`, `"binpack"`, `"registerTaskDefinition": {`},
			stderr: []string{"unresolved: runTask.taskDefinition"},
		},
		"inline job variables": {
			args:   []string{"render", "--job-variables", `{"cluster": "c1", "cpu": 512, "memory": 1024}`},
			stdout: []string{`"cluster": "c1"`, `"cpu": "512"`},
		},
		"job variables from stdin": {
			stdin:  `{"launch_type": "FARGATE_SPOT"}`,
			args:   []string{"render", "--job-variables", "@-"},
			stdout: []string{`"capacityProvider": "FARGATE_SPOT"`},
		},
		"template from stdin": {
			stdin:  `{"job_configuration": {"task_definition": {"containerDefinitions": [{"name": "prefect", "image": "{{ image }}"}]}, "task_run_request": {"launchType": "EC2", "cluster": "{{ cluster }}"}}, "variables": {"properties": {"image": {"default": "img:1"}, "cluster": {}}}}`,
			args:   []string{"render", "--base-job-template", "-", "--job-variables", `{"cluster": "k"}`},
			stdout: []string{`"image": "img:1"`, `"cluster": "k"`},
		},
		"full flow run context": {
			args: []string{"render", "--work-pool", examples + "work-pool.json", "--deployment", examples + "deployment.json",
				"--flow", examples + "flow.json", "--flow-run", examples + "flow-run.json"},
			stdout: []string{`"PREFECT__FLOW_RUN_ID"`, `"prefect.io/flow-run-id"`, `"family": "prefect_ecs-pool_d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6"`, `"awslogs-region": "us-east-2"`, `"value": "********"`},
		},
		"job configuration output": {
			args:   []string{"render", "--output", "job-configuration", "--flow-run", examples + "flow-run.json"},
			stdout: []string{`"task_run_request"`, `"PREFECT_API_KEY": "********"`, `"command": "prefect flow-run execute"`},
		},
		"existing task definition": {
			args:   []string{"render", "--job-variables", "@" + examples + "existing-task-definition.job-variables.json"},
			stdout: []string{`"registerTaskDefinition": null`, `"taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/my-family:42"`},
			stderr: []string{"warning: task_definition_arn", "image"},
		},
		"placement on fargate is refused": {
			args:     []string{"render", "--job-variables", "@" + examples + "fargate-placement.job-variables.json"},
			code:     2,
			noStdout: true,
			stderr:   []string{"placement_strategy", "Fargate", "EC2"},
		},
		"several problems at once": {
			args:     []string{"render", "--job-variables", `{"cpu": 300, "ephemeral_storage": 999, "placement_constraints": [{"type": "distinctInstance"}]}`},
			code:     2,
			noStdout: true,
			stderr:   []string{"3 problems", "cpu", "ephemeral_storage", "placement_constraints"},
		},
		"bad json": {
			args: []string{"render", "--job-variables", `{"cpu": }`}, code: 2, noStdout: true,
			stderr: []string{"--job-variables", "invalid JSON"},
		},
		"missing file": {
			args: []string{"render", "--flow-run", "/nonexistent/run.json"}, code: 2, noStdout: true,
			stderr: []string{"--flow-run", "no such file"},
		},
		"bad output": {
			args: []string{"render", "--output", "yaml"}, code: 2, noStdout: true, stderr: []string{"aws or job-configuration"},
		},
		"pool of another type": {
			stdin: `{"name": "p", "type": "process", "base_job_template": {}}`,
			args:  []string{"render", "--work-pool", "-"}, code: 2, noStdout: true, stderr: []string{`type "process"`},
		},
		"two flags on stdin": {
			args: []string{"render", "--work-pool", "-", "--flow-run", "-"}, code: 2, noStdout: true, stderr: []string{"standard input"},
		},
		"unknown flag": {
			args: []string{"render", "--nope"}, code: 2, noStdout: true, stderr: []string{"unknown flag"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := clitest.Run(t, tc.stdin, tc.args...)
			if r.Code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.Code, tc.code, r.Stdout, r.Stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(r.Stdout, s) {
					t.Errorf("stdout lacks %s:\n%s", s, r.Stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(r.Stderr, s) {
					t.Errorf("stderr lacks %s:\n%s", s, r.Stderr)
				}
			}
			if tc.noStdout && r.Stdout != "" {
				t.Errorf("stdout should be empty, got:\n%s", r.Stdout)
			}
			if strings.Contains(r.Stdout+r.Stderr, "pnu_TopSecretKey123") {
				t.Errorf("the API key leaked into the output")
			}
			if tc.code == 0 {
				if _, err := jsonv.DecodeObject([]byte(r.Stdout)); err != nil {
					t.Errorf("stdout is not one JSON object: %v", err)
				}
			}
		})
	}
}

func TestRenderFromAPI(t *testing.T) {
	s := clitest.PrefectServer(t, prefectfake.Options{})
	if r := clitest.Run(t, "", "work-pool", "create", "ecs-pool"); r.Code != 0 {
		t.Fatalf("create: %+v", r)
	}
	creds := s.SetBlockDocument("aws-credentials", "prod", map[string]any{"region_name": "eu-central-1", "aws_access_key_id": "AKIAXXXX", "aws_secret_access_key": "hidden-secret"}, "aws_secret_access_key")
	s.SetVariable("team_cluster", "analytics")
	flow := s.CreateFlow("etl")
	dep := s.CreateDeployment(flow["id"].(string), "nightly", "ecs-pool", "", map[string]any{
		"cluster":                   "{{ prefect.variables.team_cluster }}",
		"aws_credentials":           map[string]any{"$ref": map[string]any{"block_document_id": creds}},
		"configure_cloudwatch_logs": true,
		"execution_role_arn":        "arn:aws:iam::123456789012:role/exec",
	})
	run1 := s.CreateFlowRun(dep["id"].(string), map[string]any{"env": map[string]any{"X": "1"}}, timeZero)

	r := clitest.Run(t, "", "render", "--work-pool", "ecs-pool", "--deployment", "etl/nightly", "--flow-run", run1["id"].(string))
	if r.Code != 0 {
		t.Fatalf("render: %+v", r)
	}
	for _, want := range []string{`"cluster": "analytics"`, `"awslogs-region": "eu-central-1"`, `"prefect_ecs-pool_` + dep["id"].(string) + `"`, `"name": "X"`, `"prefect.io/flow-name"`} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("render output lacks %s:\n%s", want, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout, "hidden-secret") {
		t.Errorf("a block secret leaked into the output")
	}
	if r := clitest.Run(t, "", "render", "--work-pool", "ecs-pool", "--deployment", "etl/weekly"); r.Code != 1 || !strings.Contains(r.Stderr, "not found") {
		t.Errorf("unknown deployment: %+v", r)
	}
	if r := clitest.Run(t, "", "render", "--deployment", "nightly"); r.Code != 2 || !strings.Contains(r.Stderr, "FLOW_NAME/DEPLOYMENT_NAME") {
		t.Errorf("ambiguous deployment: %+v", r)
	}
}

// timeZero asks the test server for "now".
var timeZero time.Time
