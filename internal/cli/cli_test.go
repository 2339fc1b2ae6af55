package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/cli"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

type result struct {
	code        int
	stdout, err string
}

func run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(context.Background(), args, cli.IO{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return result{code, out.String(), errb.String()}
}

const examples = "../../examples/"

func TestVersion(t *testing.T) {
	r := run(t, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ecsworker ") {
		t.Fatalf("version: %+v", r)
	}
}

func TestDefaultTemplateCommand(t *testing.T) {
	r := run(t, "", "work-pool", "get-default-base-job-template", "--type", "ecs")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	obj, err := jsonv.DecodeObject([]byte(r.stdout))
	if err != nil {
		t.Fatal(err)
	}
	if obj.GetObject("job_configuration") == nil || obj.GetObject("variables").GetObject("properties").GetObject("placement_strategy") == nil {
		t.Errorf("template lacks job_configuration or placement_strategy")
	}

	file := filepath.Join(t.TempDir(), "t.json")
	if r := run(t, "", "work-pool", "get-default-base-job-template", "--file", file); r.code != 0 {
		t.Fatalf("--file: %+v", r)
	}
	if b, _ := os.ReadFile(file); string(b) != r.stdout {
		t.Errorf("--file wrote something else than stdout shows")
	}

	if r := run(t, "", "work-pool", "get-default-base-job-template", "--type", "process"); r.code != 2 || !strings.Contains(r.err, `"ecs"`) {
		t.Errorf("another type: %+v", r)
	}
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
			r := run(t, tc.stdin, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.err)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %s:\n%s", s, r.stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(r.err, s) {
					t.Errorf("stderr lacks %s:\n%s", s, r.err)
				}
			}
			if tc.noStdout && r.stdout != "" {
				t.Errorf("stdout should be empty, got:\n%s", r.stdout)
			}
			if strings.Contains(r.stdout+r.err, "pnu_TopSecretKey123") {
				t.Errorf("the API key leaked into the output")
			}
			if tc.code == 0 {
				if _, err := jsonv.DecodeObject([]byte(r.stdout)); err != nil {
					t.Errorf("stdout is not one JSON object: %v", err)
				}
			}
		})
	}
}

// timeZero asks the test server for "now".
var timeZero time.Time
