package prefect_test

import (
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
	executed := prefect.ExecutedFlowRunEvent(w, run, nil, nil, "c::arn", 137, submitted.ID)
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
