package prefect_test

import (
	"maps"
	"slices"
	"testing"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
)

func TestWorkerEvents(t *testing.T) {
	t.Parallel()
	dep := &prefectdeploy.Deployment{ID: "d1", Name: "dep", Tags: []string{"b", "a"},
		Raw: jsonv.ObjectOf("branch", "main", "version_id", "v1", "version_info", jsonv.ObjectOf("type", "vcs:git", "version", "abc"))}
	flow := &prefectdeploy.Flow{ID: "f1", Name: "flow", Tags: []string{"a", "c"}}
	run := &prefect.FlowRun{ID: "r1", Name: "brave-otter", Tags: []string{"b"}}
	w := prefect.WorkerEventSource{Name: "My Wörker's  #1,000", Type: "ecs", Version: "3.8.3",
		Pool: &prefectpool.WorkPool{ID: "p1", Name: "pool"}}

	if id := w.Resource()["prefect.resource.id"]; id != "prefect.worker.ecs.my-worker-s-1000" {
		t.Errorf("worker resource id %q", id)
	}
	started := prefect.WorkerStartedEvent(w)
	if started.Event != "prefect.worker.started" || started.ID == "" || len(started.Related) != 1 ||
		started.Related[0]["prefect.resource.id"] != "prefect.work-pool.p1" || started.Related[0]["prefect.resource.role"] != "work-pool" ||
		started.Related[0]["prefect.resource.name"] != "pool" {
		t.Errorf("started %+v", started)
	}
	if stopped := prefect.WorkerStoppedEvent(w, started.ID); stopped.Event != "prefect.worker.stopped" || stopped.Follows != started.ID {
		t.Errorf("stopped %+v", stopped)
	}
	submitted := prefect.SubmittedFlowRunEvent(w, run, dep, flow)
	var ids []string
	for _, r := range submitted.Related {
		ids = append(ids, r["prefect.resource.id"]+"/"+r["prefect.resource.role"])
	}
	want := []string{"prefect.deployment.d1/deployment", "prefect.flow.f1/flow", "prefect.flow-run.r1/flow-run",
		"prefect.tag.a/tag", "prefect.tag.b/tag", "prefect.tag.c/tag", "prefect.work-pool.p1/work-pool"}
	if submitted.Event != "prefect.worker.submitted-flow-run" || !slices.Equal(ids, want) {
		t.Errorf("submitted %s related %v", submitted.Event, ids)
	}
	d := submitted.Related[0]
	if d["prefect.deployment.branch"] != "main" || d["prefect.deployment.version-id"] != "v1" ||
		d["prefect.deployment.version-type"] != "vcs:git" || d["prefect.deployment.version"] != "abc" || d["prefect.resource.name"] != "dep" {
		t.Errorf("deployment resource %v", d)
	}
	executed := prefect.ExecutedFlowRunEvent(w, prefect.NewRunSubjects(run, nil, nil), "c::arn", 137, submitted.ID)
	if executed.Event != "prefect.worker.executed-flow-run" || executed.Follows != submitted.ID || len(executed.Related) != 3 {
		t.Fatalf("executed %+v", executed)
	}
	fr := executed.Related[0]
	if fr["prefect.resource.role"] != "flow-run" || fr["prefect.infrastructure.identifier"] != "c::arn" ||
		fr["prefect.infrastructure.status-code"] != "137" || fr["prefect.resource.name"] != "brave-otter" {
		t.Errorf("executed flow-run resource %v", fr)
	}
	if _, ok := submitted.Related[2]["prefect.infrastructure.identifier"]; ok {
		t.Error("submitted event has infrastructure labels")
	}
	for name, slug := range map[string]string{
		"ECSWorker 5b3c6c1e-2f0e": "ecsworker-5b3c6c1e-2f0e",
		"--Crème brûlée--":        "creme-brulee",
		"a_b.c":                   "a-b-c",
	} {
		w := prefect.WorkerEventSource{Name: name, Type: "ecs"}
		if id := w.Resource()["prefect.resource.id"]; id != "prefect.worker.ecs."+slug {
			t.Errorf("%q: %q", name, id)
		}
	}
}

// The executed event, built from the few words kept while the task runs,
// names what the submitted event named from the full objects.
func TestRunSubjectsKeepWhatTheSubmittedEventNamed(t *testing.T) {
	t.Parallel()
	run := &prefect.FlowRun{ID: "r1", Name: "bold-otter", Tags: []string{"etl", "prod"}, FlowID: "f1",
		JobVariables: jsonv.ObjectOf("cpu", 1024.0), Parameters: jsonv.ObjectOf("big", "input")}
	flow := &prefectdeploy.Flow{ID: "f1", Name: "etl", Tags: []string{"team-a"}}
	gitDeployment := &prefectdeploy.Deployment{ID: "d1", Name: "nightly", Tags: []string{"prod"}, JobVariables: jsonv.ObjectOf("memory", 2048.0),
		Raw: jsonv.ObjectOf("branch", "main", "base", "b", "root", "r", "version_id", "vid", "version_info", jsonv.ObjectOf("type", "git", "version", "abc"),
			"parameter_openapi_schema", jsonv.ObjectOf("huge", true))}
	w := prefect.WorkerEventSource{Name: "w", Type: "ecs", Pool: &prefectpool.WorkPool{ID: "p1", Name: "pool"}}
	tests := []struct {
		name string
		run  *prefect.FlowRun
		dep  *prefectdeploy.Deployment
		flow *prefectdeploy.Flow
	}{
		{"a run of a deployment from a git branch", run, gitDeployment, flow},
		{"a deployment without its object", run, &prefectdeploy.Deployment{ID: "d1", Name: "nightly", Tags: []string{"prod"}}, flow},
		{"a deployment object without the event's keys", run, &prefectdeploy.Deployment{ID: "d1", Name: "nightly", Raw: jsonv.ObjectOf("job_variables", jsonv.NewObject())}, nil},
		{"a run of no deployment, its flow unknown", run, nil, nil},
		{"no run", nil, gitDeployment, flow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			submitted := prefect.SubmittedFlowRunEvent(w, tt.run, tt.dep, tt.flow)
			s := prefect.NewRunSubjects(tt.run, tt.dep, tt.flow)
			executed := prefect.ExecutedFlowRunEvent(w, s, "c::arn", 1, submitted.ID)
			var got []map[string]string
			for _, r := range executed.Related {
				if r["prefect.resource.role"] == "flow-run" {
					if r["prefect.infrastructure.identifier"] != "c::arn" || r["prefect.infrastructure.status-code"] != "1" {
						t.Errorf("flow-run resource %v lacks the infrastructure labels", r)
					}
					r = maps.Clone(r)
					delete(r, "prefect.infrastructure.identifier")
					delete(r, "prefect.infrastructure.status-code")
				}
				got = append(got, r)
			}
			if !slices.EqualFunc(got, submitted.Related, maps.Equal) {
				t.Errorf("executed event related\n %v\nsubmitted event related\n %v", got, submitted.Related)
			}
		})
	}
	// Runs of one deployment share their subjects.
	a := prefect.NewRunSubjects(&prefect.FlowRun{ID: "r1", Name: "a", Tags: []string{"x"}}, gitDeployment, flow)
	b := prefect.NewRunSubjects(&prefect.FlowRun{ID: "r2", Name: "b", Tags: []string{"x"}}, gitDeployment, flow)
	if !prefect.SharesSubjects(a, b) {
		t.Error("two runs of one deployment with the same tags keep two copies of its subjects")
	}
}
