package jobtemplate_test

import (
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
)

const (
	runID      = "0d5c2d4e-1f0a-4c4b-9f3e-6a1f5f0b2a11"
	flowID     = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	deployID   = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
	poolID     = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
	workerUUID = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
)

func TestPrepareForFlowRun(t *testing.T) {
	t.Parallel()
	// The job configuration of Prefect's TestPrepareForFlowRun.
	const jobConfig = `{"command": null, "env": {"MY_VAR": "foo"}, "labels": {"my-label": "foo"}, "name": "my-job-name"}`
	const flowRun = `{"id": "` + runID + `", "name": "my-flow-run-name", "flow_id": "` + flowID + `", "deployment_id": null, "tags": ["a", "b"]}`
	const baseEnv = `{"PREFECT_API_URL": "http://prefect:4200/api", "PREFECT_API_KEY": "pnu_secret"}`

	tests := map[string]struct {
		cfg        string
		flowRun    string
		deployment string
		flow       string
		workPool   string
		workerName string
		workerID   string
		baseEnv    string
		env        map[string]string
		field      string // compare only this field when set
		want       string
	}{
		"flow run only": {
			cfg: jobConfig, flowRun: flowRun, baseEnv: baseEnv,
			want: `{"command": "prefect flow-run execute",
				"env": {"PREFECT_API_URL": "http://prefect:4200/api", "PREFECT_API_KEY": "pnu_secret",
				        "PREFECT__FLOW_RUN_ID": "` + runID + `", "PREFECT__FLOW_ID": "` + flowID + `", "MY_VAR": "foo"},
				"labels": {"prefect.io/flow-run-id": "` + runID + `", "prefect.io/flow-run-name": "my-flow-run-name",
				           "prefect.io/version": "0.1.0-go", "my-label": "foo"},
				"name": "my-job-name"}`,
		},
		"with deployment and flow": {
			cfg: jobConfig, flowRun: flowRun, baseEnv: baseEnv,
			deployment: `{"id": "` + deployID + `", "name": "my-deployment-name", "updated": null}`,
			flow:       `{"id": "` + flowID + `", "name": "my-flow-name"}`,
			want: `{"command": "prefect flow-run execute",
				"env": {"PREFECT_API_URL": "http://prefect:4200/api", "PREFECT_API_KEY": "pnu_secret",
				        "PREFECT__FLOW_RUN_ID": "` + runID + `", "PREFECT__FLOW_ID": "` + flowID + `",
				        "PREFECT__FLOW_NAME": "my-flow-name", "PREFECT__DEPLOYMENT_NAME": "my-deployment-name", "MY_VAR": "foo"},
				"labels": {"prefect.io/flow-run-id": "` + runID + `", "prefect.io/flow-run-name": "my-flow-run-name",
				           "prefect.io/version": "0.1.0-go",
				           "prefect.io/flow-id": "` + flowID + `", "prefect.io/flow-name": "my-flow-name",
				           "prefect.io/deployment-id": "` + deployID + `", "prefect.io/deployment-name": "my-deployment-name",
				           "my-label": "foo"},
				"name": "my-job-name"}`,
		},
		"everything known": {
			cfg:        `{"command": "python run.py", "env": {}, "labels": {}, "name": null}`,
			flowRun:    `{"id": "` + runID + `", "name": "crimson-fox", "flow_id": "` + flowID + `", "deployment_id": "` + deployID + `"}`,
			deployment: `{"id": "` + deployID + `", "name": "etl", "updated": "2024-05-01T14:00:00.123Z"}`,
			flow:       `{"id": "` + flowID + `", "name": "etl-flow"}`,
			workPool:   `{"id": "` + poolID + `", "name": "ecs-pool"}`,
			workerName: "ECSWorker 1", workerID: workerUUID,
			want: `{"command": "python run.py",
				"env": {"PREFECT__FLOW_RUN_ID": "` + runID + `", "PREFECT__WORKER_ID": "` + workerUUID + `",
				        "PREFECT__WORKER_NAME": "ECSWorker 1", "PREFECT__FLOW_ID": "` + flowID + `", "PREFECT__FLOW_NAME": "etl-flow",
				        "PREFECT__DEPLOYMENT_ID": "` + deployID + `", "PREFECT__DEPLOYMENT_NAME": "etl"},
				"labels": {"prefect.io/flow-run-id": "` + runID + `", "prefect.io/flow-run-name": "crimson-fox",
				           "prefect.io/version": "0.1.0-go", "prefect.io/work-pool-name": "ecs-pool", "prefect.io/work-pool-id": "` + poolID + `",
				           "prefect.io/worker-name": "ECSWorker 1",
				           "prefect.io/flow-id": "` + flowID + `", "prefect.io/flow-name": "etl-flow",
				           "prefect.io/deployment-id": "` + deployID + `", "prefect.io/deployment-name": "etl",
				           "prefect.io/deployment-updated": "2024-05-01T14:00:00.123000+00:00"},
				"name": "crimson-fox"}`,
		},
		"user env null removes an injected variable, user values win": {
			cfg:     `{"env": {"PREFECT_API_KEY": null, "PREFECT_API_URL": "http://other/api", "PREFECT__FLOW_RUN_ID": "spoofed", "KEEP": "1"}, "labels": {}}`,
			flowRun: flowRun, baseEnv: baseEnv,
			want: `{"env": {"PREFECT_API_URL": "http://other/api", "PREFECT__FLOW_RUN_ID": "spoofed", "PREFECT__FLOW_ID": "` + flowID + `", "KEEP": "1"},
				"labels": {"prefect.io/flow-run-id": "` + runID + `", "prefect.io/flow-run-name": "my-flow-run-name", "prefect.io/version": "0.1.0-go"},
				"name": "my-flow-run-name", "command": "prefect flow-run execute"}`,
		},
		"user labels override prefect labels in place": {
			cfg:     `{"env": {}, "labels": {"prefect.io/flow-run-name": "custom", "team": "data"}, "name": "", "command": ""}`,
			flowRun: flowRun,
			want: `{"env": {"PREFECT__FLOW_RUN_ID": "` + runID + `", "PREFECT__FLOW_ID": "` + flowID + `"},
				"labels": {"prefect.io/flow-run-id": "` + runID + `", "prefect.io/flow-run-name": "custom", "prefect.io/version": "0.1.0-go", "team": "data"},
				"name": "my-flow-run-name", "command": "prefect flow-run execute"}`,
		},
		"name template with flow and flow run": {
			cfg:     `{"name": "worker-1/{{ ctx.flow.name }}/{{ ctx.flow_run.name }}"}`,
			flowRun: flowRun, flow: `{"id": "` + flowID + `", "name": "my-flow-name"}`,
			field: "name", want: `"worker-1/my-flow-name/my-flow-run-name"`,
		},
		"name template without a flow drops the missing part": {
			cfg: `{"name": "job-{{ ctx.flow.name }}-{{ ctx.flow_run.tags[1] }}-{{ $SITE }}"}`, flowRun: flowRun,
			env:   map[string]string{"SITE": "eu"},
			field: "name", want: `"job--b-eu"`,
		},
		"whole-name placeholder that does not resolve is kept": {
			cfg: `{"name": "{{ ctx.flow.name }}"}`, flowRun: flowRun,
			field: "name", want: `"{{ ctx.flow.name }}"`,
		},
		"whole-name placeholder to a non-string prints it": {
			cfg: `{"name": "{{ ctx.flow_run.tags }}"}`, flowRun: flowRun,
			field: "name", want: `"['a', 'b']"`,
		},
		"whole-name placeholder to null falls back to the run name": {
			cfg: `{"name": "{{ ctx.flow_run.deployment_id }}"}`, flowRun: flowRun,
			field: "name", want: `"my-flow-run-name"`,
		},
		"name rendering to empty falls back to the run name": {
			cfg: `{"name": "{{ ctx.flow.name }}{{ ctx.flow.version }}"}`, flowRun: flowRun,
			field: "name", want: `"my-flow-run-name"`,
		},
		"flow and deployment without names add no name variables": {
			cfg: `{}`, flowRun: `{"id": "r", "name": "n"}`, flow: `{"id": "f", "name": ""}`, deployment: `{"id": "d"}`,
			want: `{"env": {"PREFECT__FLOW_RUN_ID": "r"},
				"labels": {"prefect.io/flow-run-id": "r", "prefect.io/flow-run-name": "n", "prefect.io/version": "0.1.0-go",
				           "prefect.io/flow-id": "f", "prefect.io/flow-name": "", "prefect.io/deployment-id": "d", "prefect.io/deployment-name": ""},
				"name": "n", "command": "prefect flow-run execute"}`,
		},
		"unparseable deployment timestamp leaves the label out": {
			cfg: `{}`, flowRun: `{"id": "r", "name": "n"}`, deployment: `{"id": "d", "name": "dn", "updated": "yesterday"}`,
			want: `{"env": {"PREFECT__FLOW_RUN_ID": "r", "PREFECT__DEPLOYMENT_NAME": "dn"},
				"labels": {"prefect.io/flow-run-id": "r", "prefect.io/flow-run-name": "n", "prefect.io/version": "0.1.0-go",
				           "prefect.io/deployment-id": "d", "prefect.io/deployment-name": "dn"},
				"name": "n", "command": "prefect flow-run execute"}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := jsonvtest.Object(t, tc.cfg)
			fc := jobtemplate.FlowRunContext{
				FlowRun: jsonvtest.Object(t, tc.flowRun), Deployment: jsonvtest.Object(t, tc.deployment), Flow: jsonvtest.Object(t, tc.flow), WorkPool: jsonvtest.Object(t, tc.workPool),
				WorkerName: tc.workerName, WorkerID: tc.workerID, BaseEnv: jsonvtest.Object(t, tc.baseEnv), Version: "0.1.0-go",
				LookupEnv: envMap(tc.env),
			}
			before := map[string]string{"run": jsonvtest.Compact(t, fc.FlowRun), "dep": jsonvtest.Compact(t, fc.Deployment), "flow": jsonvtest.Compact(t, fc.Flow), "base": jsonvtest.Compact(t, fc.BaseEnv)}
			jobtemplate.PrepareForFlowRun(cfg, fc)
			if tc.field == "" {
				jsonvtest.Require(t, tc.want, cfg)
			} else {
				got, _ := cfg.Get(tc.field)
				jsonvtest.Require(t, tc.want, got)
			}
			after := map[string]string{"run": jsonvtest.Compact(t, fc.FlowRun), "dep": jsonvtest.Compact(t, fc.Deployment), "flow": jsonvtest.Compact(t, fc.Flow), "base": jsonvtest.Compact(t, fc.BaseEnv)}
			for k := range before {
				if before[k] != after[k] {
					t.Fatalf("%s was modified: %s", k, after[k])
				}
			}
		})
	}
	t.Run("nil config is a no-op", func(t *testing.T) {
		t.Parallel()
		jobtemplate.PrepareForFlowRun(nil, jobtemplate.FlowRunContext{})
	})
}

func TestParseTimestampAndFormatPythonISO(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in      string
		want    string
		wantErr bool
	}{
		"Z with millis":             {in: "2024-05-01T12:00:00.123Z", want: "2024-05-01T12:00:00.123000+00:00"},
		"no fraction":               {in: "2024-05-01T12:00:00Z", want: "2024-05-01T12:00:00+00:00"},
		"zero fraction is dropped":  {in: "2024-05-01T12:00:00.000000+00:00", want: "2024-05-01T12:00:00+00:00"},
		"microseconds":              {in: "2024-05-01T12:00:00.000001+00:00", want: "2024-05-01T12:00:00.000001+00:00"},
		"nanoseconds are truncated": {in: "2024-05-01T12:00:00.1234569Z", want: "2024-05-01T12:00:00.123456+00:00"},
		"offset converted to UTC":   {in: "2024-05-01T14:30:00.5+02:00", want: "2024-05-01T12:30:00.500000+00:00"},
		"offset across midnight":    {in: "2024-05-01T01:00:00-05:00", want: "2024-05-01T06:00:00+00:00"},
		"space separator":           {in: "2024-05-01 12:00:00.25+00:00", want: "2024-05-01T12:00:00.250000+00:00"},
		"offset without colon":      {in: "2024-05-01T12:00:00+0000", want: "2024-05-01T12:00:00+00:00"},
		"hour-only offset":          {in: "2024-05-01T12:00:00+01", want: "2024-05-01T11:00:00+00:00"},
		"lower-case separators":     {in: "2024-05-01t12:00:00z", want: "2024-05-01T12:00:00+00:00"},
		"naive timestamps are UTC":  {in: "2024-05-01T12:00:00.5", want: "2024-05-01T12:00:00.500000+00:00"},
		"surrounding whitespace":    {in: " 2024-05-01T12:00:00Z\n", want: "2024-05-01T12:00:00+00:00"},
		"not a timestamp":           {in: "yesterday", wantErr: true},
		"date only":                 {in: "2024-05-01", wantErr: true},
		"empty":                     {in: "", wantErr: true},
		"out of range month":        {in: "2024-13-01T00:00:00Z", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts, err := jobtemplate.ParseTimestamp(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %v, want an error", ts)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := jobtemplate.FormatPythonISO(ts); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("format uses UTC whatever the location", func(t *testing.T) {
		t.Parallel()
		ts := time.Date(2024, 5, 1, 8, 0, 0, 7000, time.FixedZone("x", -4*3600))
		if got, want := jobtemplate.FormatPythonISO(ts), "2024-05-01T12:00:00.000007+00:00"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}
