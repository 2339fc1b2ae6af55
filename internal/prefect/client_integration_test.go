package prefect_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/fakes/fakenet"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
	"github.com/ecsworker/ecsworker/internal/prefectevents"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/templating"
)

// These tests run the client over HTTP against prefectfake, which checks
// every request and response against Prefect's OpenAPI schema and fails the
// test on any mismatch.

// newFakeClock is a clock for the server and the client to share, so that
// scheduling and CSRF expiry line up; it moves only when a test says so.
func newFakeClock() *fakenet.Clock { return fakenet.NewClock(testNow) }

type env struct {
	srv    *prefectfake.Server
	client *prefect.Client
	sleeps *sleeps
	clock  *fakenet.Clock
}

// start runs a fake server and a client for it. cfg's APIURL is filled in;
// retries wait without sleeping.
func start(t *testing.T, opts prefectfake.Options, cfg prefectconfig.Config, copts ...prefectapi.Option) *env {
	t.Helper()
	clock := newFakeClock()
	if opts.Now == nil {
		opts.Now = clock.Now
	}
	srv := prefectfake.NewTestServer(t, opts)
	cfg.APIURL = srv.URL()
	if opts.Cloud {
		cfg.CloudAPIURL = strings.TrimSuffix(srv.URL(), srv.APIPath()) + "/api"
	}
	c, sl := newTestClient(t, cfg, append([]prefectapi.Option{prefectapi.WithClock(clock.Now)}, copts...)...)
	return &env{srv: srv, client: c, sleeps: sl, clock: clock}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := jsonv.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decodeObj(t *testing.T, s string) *jsonv.Object {
	t.Helper()
	o, err := jsonv.DecodeObject([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

const ecsTemplate = `{"job_configuration":{"command":"{{ command }}","task_definition":{"cpu":"{{ cpu }}","family":"x"}},` +
	`"variables":{"type":"object","properties":{"command":{"type":"string","default":"prefect flow-run execute"},` +
	`"cpu":{"type":"number","default":1024.0}}}}`

func TestIntegrationHealthAndVersions(t *testing.T) {
	t.Parallel()
	e := start(t, prefectfake.Options{ServerVersion: "3.8.3"}, prefectconfig.Config{})
	ctx := context.Background()
	if err := e.client.Health(ctx); err != nil {
		t.Error(err)
	}
	if v, err := e.client.APIVersion(ctx); err != nil || v != prefectapi.APIVersion {
		t.Errorf("API version %q, %v", v, err)
	}
	if v, err := e.client.ServerVersion(ctx); err != nil || v != "3.8.3" {
		t.Errorf("server version %q, %v", v, err)
	}
}

func TestIntegrationWorkPools(t *testing.T) {
	t.Parallel()
	e := start(t, prefectfake.Options{}, prefectconfig.Config{})
	ctx := context.Background()
	c := e.client
	desc := "ECS pool"
	created, err := c.CreateWorkPool(ctx, prefectpool.WorkPoolCreate{Name: "ecs pool", Type: "ecs", Description: &desc,
		BaseJobTemplate: decodeObj(t, ecsTemplate)})
	if err != nil {
		t.Fatal(err)
	}
	if created.Name != "ecs pool" || created.Type != "ecs" || created.ID == "" || created.Description != desc ||
		created.DefaultQueueID == "" || created.Created.IsZero() {
		t.Errorf("created %+v", created)
	}
	read, err := c.ReadWorkPool(ctx, "ecs pool")
	if err != nil {
		t.Fatal(err)
	}
	// The template comes back exactly as sent: key order and 1024.0.
	if got := mustJSON(t, read.BaseJobTemplate); got != ecsTemplate {
		t.Errorf("template\n got %s\nwant %s", got, ecsTemplate)
	}
	if got := mustJSON(t, read.Raw.GetObject("base_job_template")); got != ecsTemplate {
		t.Errorf("raw template %s", got)
	}

	paused, limit := true, 4
	if err := c.UpdateWorkPool(ctx, "ecs pool", prefectpool.WorkPoolUpdate{IsPaused: &paused, ConcurrencyLimit: &limit}); err != nil {
		t.Fatal(err)
	}
	read, _ = c.ReadWorkPool(ctx, "ecs pool")
	if !read.IsPaused || read.ConcurrencyLimit == nil || *read.ConcurrencyLimit != 4 || read.Status != "PAUSED" {
		t.Errorf("after update %+v", read)
	}
	if mustJSON(t, read.BaseJobTemplate) != ecsTemplate {
		t.Errorf("an update of other fields changed the template")
	}
	if err := c.UpdateWorkPool(ctx, "ecs pool", prefectpool.WorkPoolUpdate{ClearConcurrencyLimit: true,
		BaseJobTemplate: decodeObj(t, `{"job_configuration":{"command":"x"},"variables":{"type":"object","properties":{}}}`)}); err != nil {
		t.Fatal(err)
	}
	read, _ = c.ReadWorkPool(ctx, "ecs pool")
	if read.ConcurrencyLimit != nil || mustJSON(t, read.BaseJobTemplate.GetObject("job_configuration")) != `{"command":"x"}` {
		t.Errorf("after clear %+v", read)
	}

	if _, err := c.CreateWorkPool(ctx, prefectpool.WorkPoolCreate{Name: "proc", Type: "process"}); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		f    prefectpool.WorkPoolFilter
		want []string
	}{
		"all":        {want: []string{"ecs pool", "proc"}},
		"by name":    {f: prefectpool.WorkPoolFilter{Names: []string{"proc"}}, want: []string{"proc"}},
		"by type":    {f: prefectpool.WorkPoolFilter{Types: []string{"ecs"}}, want: []string{"ecs pool"}},
		"by id":      {f: prefectpool.WorkPoolFilter{IDs: []string{created.ID}}, want: []string{"ecs pool"}},
		"one page":   {f: prefectpool.WorkPoolFilter{Limit: 1}, want: []string{"ecs pool"}},
		"offset":     {f: prefectpool.WorkPoolFilter{Limit: 1, Offset: 1}, want: []string{"proc"}},
		"none match": {f: prefectpool.WorkPoolFilter{Names: []string{"nope"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pools, err := c.ListWorkPools(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, p := range pools {
				names = append(names, p.Name)
				if p.Raw.GetString("name") != p.Name {
					t.Errorf("raw %v", p.Raw)
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, tc.want) {
				t.Errorf("pools %q, want %q", names, tc.want)
			}
		})
	}

	if err := c.DeleteWorkPool(ctx, "proc"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadWorkPool(ctx, "proc"); !errors.Is(err, prefect.ErrNotFound) {
		t.Errorf("read after delete: %v", err)
	}
}

func TestIntegrationWorkersAndQueues(t *testing.T) {
	t.Parallel()
	e := start(t, prefectfake.Options{}, prefectconfig.Config{})
	ctx := context.Background()
	c := e.client
	e.srv.CreateWorkPool("pool", "ecs", nil)
	e.srv.CreateWorkQueue("pool", "high", prefectfake.QueueOptions{Priority: 1})

	id, err := c.Heartbeat(ctx, "pool", prefectpool.WorkerHeartbeat{Name: "ECSWorker a", HeartbeatIntervalSeconds: 30})
	if err != nil || id != "" {
		t.Fatalf("heartbeat id %q, err %v", id, err)
	}
	// A self-hosted server ignores return_id and answers 204.
	id, err = c.Heartbeat(ctx, "pool", prefectpool.WorkerHeartbeat{Name: "ECSWorker b", ReturnID: true})
	if err != nil || id != "" {
		t.Fatalf("heartbeat id %q, err %v", id, err)
	}
	// An older server refuses return_id with 422: resent without it.
	e.srv.InjectFault(prefectfake.Fault{Method: "POST", Path: "/work_pools/{work_pool_name}/workers/heartbeat", Status: 422,
		Body:  `{"exception_message":"Invalid request received.","exception_detail":[{"loc":["body","return_id"],"msg":"Extra inputs are not permitted","type":"extra_forbidden"}]}`,
		Count: 1})
	meta := jsonv.ObjectOf("integrations", []any{jsonv.ObjectOf("name", "ecsworker", "version", "1.2.3")})
	if _, err := c.Heartbeat(ctx, "pool", prefectpool.WorkerHeartbeat{Name: "ECSWorker a", HeartbeatIntervalSeconds: 30, ReturnID: true, Metadata: meta}); err != nil {
		t.Fatalf("fallback heartbeat: %v", err)
	}
	hbs := e.srv.Heartbeats()
	if len(hbs) != 3 || hbs[0]["heartbeat_interval_seconds"] != float64(30) || hbs[2]["return_id"] != nil || hbs[2]["name"] != "ECSWorker a" {
		t.Errorf("heartbeats %v", hbs)
	}
	if _, err := c.Heartbeat(ctx, "missing", prefectpool.WorkerHeartbeat{Name: "w"}); !errors.Is(err, prefect.ErrNotFound) {
		t.Errorf("heartbeat to a missing pool: %v", err)
	}

	workers, err := c.FilterWorkers(ctx, "pool", prefectpool.WorkerFilter{Statuses: []string{"ONLINE"}})
	if err != nil || len(workers) != 2 {
		t.Fatalf("workers %+v, err %v", workers, err)
	}
	for _, w := range workers {
		if w.Status != "ONLINE" || w.LastHeartbeatTime.IsZero() || w.WorkPoolID == "" || w.Raw == nil {
			t.Errorf("worker %+v", w)
		}
	}
	workers, err = c.FilterWorkers(ctx, "pool", prefectpool.WorkerFilter{LastHeartbeatBefore: testNow.Add(-time.Hour)})
	if err != nil || len(workers) != 0 {
		t.Errorf("workers before an hour ago: %+v, %v", workers, err)
	}
	e.clock.Advance(10 * time.Minute)
	if workers, _ := c.FilterWorkers(ctx, "pool", prefectpool.WorkerFilter{Statuses: []string{"OFFLINE"}}); len(workers) != 2 {
		t.Errorf("workers offline after 10 minutes: %d", len(workers))
	}

	q, err := c.ReadWorkQueue(ctx, "pool", "default")
	if err != nil || q.Name != "default" || q.WorkPoolName != "pool" || q.Priority < 1 || q.ID == "" {
		t.Errorf("queue %+v, err %v", q, err)
	}
	if _, err := c.ReadWorkQueue(ctx, "pool", "nope"); !errors.Is(err, prefect.ErrNotFound) {
		t.Errorf("missing queue: %v", err)
	}
	queues, err := c.FilterWorkQueues(ctx, "pool", prefectpool.WorkQueueFilter{})
	if err != nil || len(queues) != 2 {
		t.Errorf("queues %+v, err %v", queues, err)
	}
	queues, err = c.FilterWorkQueues(ctx, "pool", prefectpool.WorkQueueFilter{Names: []string{"high"}})
	if err != nil || len(queues) != 1 || queues[0].Name != "high" {
		t.Errorf("queues %+v, err %v", queues, err)
	}
	queues, err = c.FilterWorkQueues(ctx, "pool", prefectpool.WorkQueueFilter{IDs: []string{q.ID}})
	if err != nil || len(queues) != 1 || queues[0].Name != "default" {
		t.Errorf("queues %+v, err %v", queues, err)
	}
}

func TestIntegrationFlowRunLifecycle(t *testing.T) {
	t.Parallel()
	e := start(t, prefectfake.Options{}, prefectconfig.Config{}, prefectapi.WithWorker("ECSWorker x", ""))
	ctx := context.Background()
	c := e.client
	if _, err := c.CreateWorkPool(ctx, prefectpool.WorkPoolCreate{Name: "pool", Type: "ecs"}); err != nil {
		t.Fatal(err)
	}

	flow, err := c.CreateFlow(ctx, prefectdeploy.FlowCreate{Name: "etl", Tags: []string{"a"}})
	if err != nil || flow.ID == "" || flow.Name != "etl" {
		t.Fatalf("flow %+v, err %v", flow, err)
	}
	again, err := c.CreateFlow(ctx, prefectdeploy.FlowCreate{Name: "etl"})
	if err != nil || again.ID != flow.ID {
		t.Errorf("creating a flow twice gave %+v, %v", again, err)
	}
	if f, err := c.ReadFlow(ctx, flow.ID); err != nil || f.Name != "etl" {
		t.Errorf("read flow %+v, %v", f, err)
	}

	const jobVars = `{"env":{"B":"2","A":"1"},"cpu":2048.0,"image":"etl:1"}`
	dep, err := c.CreateDeployment(ctx, prefectdeploy.DeploymentCreate{Name: "nightly", FlowID: flow.ID, WorkPoolName: "pool",
		JobVariables: decodeObj(t, jobVars), Tags: []string{"prod"}, Entrypoint: "flows.py:etl"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.ReadDeployment(ctx, dep.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustJSON(t, d.JobVariables); got != jobVars {
		t.Errorf("deployment job variables %s", got)
	}
	if byName, err := c.ReadDeploymentByName(ctx, "etl", "nightly"); err != nil || byName.ID != dep.ID {
		t.Errorf("by name %+v, %v", byName, err)
	}
	if _, err := c.ReadDeploymentByName(ctx, "etl", "weekly"); !errors.Is(err, prefect.ErrNotFound) {
		t.Errorf("unknown deployment name: %v", err)
	}
	if d.Name != "nightly" || d.FlowID != flow.ID || d.WorkPoolName != "pool" || d.WorkQueueName != "default" ||
		d.Entrypoint != "flows.py:etl" || !slices.Equal(d.Tags, []string{"prod"}) {
		t.Errorf("deployment %+v", d)
	}

	// One run made through the API, one seeded.
	const runVars = `{"image":"etl:2","memory":4096}`
	apiRun, err := c.CreateFlowRunFromDeployment(ctx, dep.ID, prefect.DeploymentFlowRunCreate{
		Parameters: decodeObj(t, `{"day":"2026-08-21"}`), JobVariables: decodeObj(t, runVars), Tags: []string{"manual"},
		State: &prefect.StateCreate{Type: prefect.StateScheduled, ScheduledTime: testNow.Add(-time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	if apiRun.DeploymentID != dep.ID || apiRun.StateType != prefect.StateScheduled || mustJSON(t, apiRun.JobVariables) != runVars {
		t.Errorf("created run %+v", apiRun)
	}
	seeded := e.srv.CreateFlowRun(dep.ID, nil, testNow.Add(-30*time.Second))
	seededID := seeded["id"].(string)
	later := e.srv.CreateFlowRun(dep.ID, nil, testNow.Add(time.Hour))
	laterID := later["id"].(string)

	runs, err := c.GetScheduledFlowRuns(ctx, "pool", nil, testNow.Add(10*time.Second), 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.FlowRun.ID)
		if r.WorkPoolID == "" || r.WorkQueueID == "" || r.FlowRun.Raw == nil || r.FlowRun.Raw.GetString("id") != r.FlowRun.ID ||
			r.FlowRun.StateType != prefect.StateScheduled {
			t.Errorf("scheduled run %+v", r)
		}
	}
	if !slices.Equal(ids, []string{apiRun.ID, seededID}) {
		t.Errorf("scheduled runs %v, want %v (due first, the later one excluded)", ids, []string{apiRun.ID, seededID})
	}
	if mustJSON(t, runs[0].FlowRun.JobVariables) != runVars {
		t.Errorf("job variables of a scheduled run: %s", mustJSON(t, runs[0].FlowRun.JobVariables))
	}
	if runs, err := c.GetScheduledFlowRuns(ctx, "pool", []string{"default"}, testNow.Add(2*time.Hour), 1); err != nil || len(runs) != 1 {
		t.Errorf("limit 1: %d runs, %v", len(runs), err)
	}
	if _, err := c.GetScheduledFlowRuns(ctx, "pool", []string{"nope"}, testNow, 0); !errors.Is(err, prefect.ErrNotFound) ||
		!strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown queue: %v", err)
	}

	// Claim: PENDING is accepted once; a second claim is aborted.
	res, err := c.SetFlowRunState(ctx, seededID, prefect.StateCreate{Type: prefect.StatePending, Name: "Pending"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != prefect.StatusAccept || res.State == nil || res.State.Type != prefect.StatePending || res.State.ID == "" ||
		res.State.StateDetails.FlowRunID != seededID || res.Details.Type != "accept_details" {
		t.Errorf("claim %+v", res)
	}
	res, err = c.SetFlowRunState(ctx, seededID, prefect.StateCreate{Type: prefect.StatePending, Name: "Pending"}, false)
	if err != nil || res.Status != prefect.StatusAbort || !strings.Contains(res.Details.Reason, "PENDING") {
		t.Errorf("second claim %+v, %v", res, err)
	}
	res, err = c.SetFlowRunState(ctx, seededID, prefect.StateCreate{Type: prefect.StatePending, Name: "Submitting"}, false)
	if err != nil || res.Status != prefect.StatusAccept {
		t.Errorf("Submitting %+v, %v", res, err)
	}

	if err := c.UpdateFlowRunLabels(ctx, seededID, map[string]any{"prefect.worker.name": "ECSWorker x", "prefect.work-pool.name": "pool", "n": 2}); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateFlowRunLabels(ctx, seededID, map[string]any{"bad": []string{"x"}}); err == nil || !strings.Contains(err.Error(), `label "bad" is a list`) {
		t.Errorf("non-scalar label: %v", err)
	}
	if err := c.SetInfrastructurePID(ctx, seededID, "prod::arn:aws:ecs:us-east-1:123456789012:task/prod/abc"); err != nil {
		t.Fatal(err)
	}
	newName := "renamed-run"
	if err := c.UpdateFlowRun(ctx, seededID, prefect.FlowRunUpdate{Name: &newName}); err != nil {
		t.Fatal(err)
	}
	run, err := c.ReadFlowRun(ctx, seededID)
	if err != nil {
		t.Fatal(err)
	}
	if run.InfrastructurePID != "prod::arn:aws:ecs:us-east-1:123456789012:task/prod/abc" || run.Name != newName ||
		run.State == nil || run.State.Name != "Submitting" || run.StateType != prefect.StatePending ||
		run.Labels.GetString("prefect.worker.name") != "ECSWorker x" || mustJSON(t, mustGet(run.Labels, "n")) != "2" {
		t.Errorf("run %+v labels %v", run, run.Labels)
	}
	// Job variables may only change while the run is SCHEDULED.
	if err := c.UpdateFlowRun(ctx, seededID, prefect.FlowRunUpdate{JobVariables: decodeObj(t, `{"cpu":1}`)}); err == nil ||
		!strings.Contains(err.Error(), "400 Bad Request") {
		t.Errorf("job variables on a PENDING run: %v", err)
	}
	if err := c.UpdateFlowRun(ctx, laterID, prefect.FlowRunUpdate{JobVariables: decodeObj(t, `{"cpu":1}`)}); err != nil {
		t.Errorf("job variables on a SCHEDULED run: %v", err)
	}

	res, err = c.SetFlowRunState(ctx, seededID, prefect.StateCreate{Type: prefect.StateCrashed, Name: "Crashed",
		Message: "Flow run infrastructure exited with non-zero status code 1."}, false)
	if err != nil || res.Status != prefect.StatusAccept {
		t.Errorf("crash %+v, %v", res, err)
	}
	res, err = c.SetFlowRunState(ctx, apiRun.ID, prefect.StateCreate{Type: prefect.StateCancelled, Name: "Cancelled",
		Message: "Deployment no longer exists, cancelled run.", StateDetails: decodeObj(t, `{"cache_key":null}`)}, true)
	if err != nil || res.Status != prefect.StatusAccept || res.State.Type != prefect.StateCancelled {
		t.Errorf("forced cancel %+v, %v", res, err)
	}
	var history []string
	for _, st := range e.srv.StateHistory(seededID) {
		history = append(history, fmt.Sprint(st["type"], "/", st["name"]))
	}
	if want := []string{"SCHEDULED/Scheduled", "PENDING/Pending", "PENDING/Submitting", "CRASHED/Crashed"}; !slices.Equal(history, want) {
		t.Errorf("history %v, want %v", history, want)
	}

	filters := map[string]struct {
		f    prefect.FlowRunFilter
		want []string
	}{
		"by id":         {f: prefect.FlowRunFilter{IDs: []string{seededID}}, want: []string{seededID}},
		"by state type": {f: prefect.FlowRunFilter{StateTypes: []prefect.StateType{prefect.StateScheduled}}, want: []string{laterID}},
		"by state name": {f: prefect.FlowRunFilter{StateNames: []string{"Cancelled", "Crashed"}}, want: []string{apiRun.ID, seededID}},
		"by deployment": {f: prefect.FlowRunFilter{DeploymentIDs: []string{dep.ID}}, want: []string{apiRun.ID, seededID, laterID}},
		"by pool":       {f: prefect.FlowRunFilter{WorkPoolNames: []string{"pool"}, Sort: "EXPECTED_START_TIME_ASC"}, want: []string{apiRun.ID, seededID, laterID}},
		"by queue":      {f: prefect.FlowRunFilter{WorkQueueNames: []string{"default"}}, want: []string{apiRun.ID, seededID, laterID}},
		"other pool":    {f: prefect.FlowRunFilter{WorkPoolNames: []string{"other"}}},
		// Inclusive, as Prefect's after_ is: the seeded run is due exactly then.
		"expected start after": {f: prefect.FlowRunFilter{WorkPoolNames: []string{"pool"}, ExpectedStartAfter: testNow.Add(-30 * time.Second), Sort: "EXPECTED_START_TIME_ASC"}, want: []string{seededID, laterID}},
		"combined":             {f: prefect.FlowRunFilter{DeploymentIDs: []string{dep.ID}, StateTypes: []prefect.StateType{prefect.StateCrashed}}, want: []string{seededID}},
		"limit":                {f: prefect.FlowRunFilter{Limit: 1, Sort: "EXPECTED_START_TIME_ASC"}, want: []string{apiRun.ID}},
		"limit + offset":       {f: prefect.FlowRunFilter{Limit: 1, Offset: 2, Sort: "EXPECTED_START_TIME_ASC"}, want: []string{laterID}},
	}
	for name, tc := range filters {
		t.Run(name, func(t *testing.T) {
			for _, list := range []func(context.Context, prefect.FlowRunFilter) ([]prefect.FlowRun, error){c.FilterFlowRuns, c.ListFlowRuns} {
				runs, err := list(ctx, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range runs {
					got = append(got, r.ID)
				}
				want := slices.Clone(tc.want)
				if tc.f.Sort == "" {
					slices.Sort(got)
					slices.Sort(want)
				}
				if !slices.Equal(got, want) {
					t.Errorf("runs %v, want %v", got, want)
				}
			}
		})
	}

	if err := c.DeleteFlowRun(ctx, laterID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadFlowRun(ctx, laterID); !errors.Is(err, prefect.ErrNotFound) {
		t.Errorf("read deleted run: %v", err)
	}
	if _, err := c.SetFlowRunState(ctx, laterID, prefect.StateCreate{Type: prefect.StatePending}, false); !errors.Is(err, prefect.ErrNotFound) {
		t.Errorf("set state of a deleted run: %v", err)
	}
	if err := c.DeleteDeployment(ctx, dep.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadDeployment(ctx, dep.ID); !errors.Is(err, prefect.ErrNotFound) {
		t.Errorf("read deleted deployment: %v", err)
	}
}

func mustGet(o *jsonv.Object, k string) any {
	v, _ := o.Get(k)
	return v
}

func TestIntegrationLogsAndEvents(t *testing.T) {
	t.Parallel()
	e := start(t, prefectfake.Options{}, prefectconfig.Config{})
	ctx := context.Background()
	c := e.client
	f := e.srv.CreateFlow("f")
	d := e.srv.CreateDeployment(f["id"].(string), "d", "pool", "", nil)
	run := e.srv.CreateFlowRun(d["id"].(string), nil, time.Time{})
	runID := run["id"].(string)

	err := c.CreateLogs(ctx, []prefect.LogCreate{
		{Name: "prefect.flow_runs.worker", Level: prefect.LevelInfo, Message: "Worker 'w' submitting flow run '" + runID + "'",
			Timestamp: testNow, FlowRunID: runID, WorkerID: "9a1f6a3e-0000-4000-8000-000000000001"},
		{Name: "prefect.flow_runs.worker", Level: prefect.LevelError, Message: "failed", FlowRunID: runID},
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := e.srv.Logs()
	if len(logs) != 2 || logs[0]["flow_run_id"] != runID || logs[0]["level"] != float64(20) || logs[1]["level"] != float64(40) {
		t.Errorf("logs %v", logs)
	}
	if _, ok := logs[0]["worker_id"]; ok {
		t.Errorf("worker_id sent to a self-hosted server: %v", logs[0])
	}
	if err := c.CreateLogs(ctx, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}

	err = c.EmitEvents(ctx, []prefectevents.Event{{
		Event:    "prefect.worker.submitted-flow-run",
		Resource: map[string]string{"prefect.resource.id": "prefect.worker.ecs.w", "prefect.resource.name": "w"},
		Related: []map[string]string{{"prefect.resource.id": "prefect.flow-run." + runID, "prefect.resource.role": "flow-run",
			"prefect.resource.name": run["name"].(string)}},
		Payload: jsonv.ObjectOf("k", 1),
	}})
	if err != nil {
		t.Fatal(err)
	}
	events := e.srv.Events()
	if len(events) != 1 || events[0]["event"] != "prefect.worker.submitted-flow-run" || events[0]["id"] == "" {
		t.Errorf("events %v", events)
	}
}

func TestIntegrationBlocksVariablesResolver(t *testing.T) {
	t.Parallel()
	e := start(t, prefectfake.Options{}, prefectconfig.Config{})
	ctx := context.Background()
	c := e.client
	credsID := e.srv.SetBlockDocument("aws-credentials", "prod creds", map[string]any{
		"aws_access_key_id": "AKIAEXAMPLE", "aws_secret_access_key": "s3cr3t/key", "region_name": "eu-west-1"})
	e.srv.SetBlockDocument("secret", "db", map[string]any{"value": "hunter22"})
	e.srv.SetVariable("role", "arn:aws:iam::123456789012:role/etl")
	e.srv.SetVariable("settings", map[string]any{"retries": 3})

	doc, err := c.ReadBlockDocument(ctx, credsID)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Data.GetString("aws_secret_access_key") != "s3cr3t/key" || doc.Name != "prod creds" || doc.ID != credsID {
		t.Errorf("block %+v data %v", doc, doc.Data)
	}
	doc, err = c.ReadBlockDocumentByName(ctx, "secret", "db")
	if err != nil || doc.Data.GetString("value") != "hunter22" {
		t.Errorf("block by name %v, %v", doc, err)
	}
	if _, err := c.ReadBlockDocumentByName(ctx, "secret", "missing"); !errors.Is(err, prefect.ErrNotFound) {
		t.Errorf("missing block: %v", err)
	}
	if _, err := c.ReadBlockDocument(ctx, "6f1c0d5e-1d0e-4c35-9c1b-0a5a3b1f2c3d"); !errors.Is(err, prefect.ErrNotFound) {
		t.Errorf("missing block id: %v", err)
	}

	v, found, err := c.ReadVariable(ctx, "role")
	if err != nil || !found || v.Value != "arn:aws:iam::123456789012:role/etl" || v.Name != "role" {
		t.Errorf("variable %+v %v %v", v, found, err)
	}
	v, found, err = c.ReadVariable(ctx, "settings")
	if err != nil || !found || mustJSON(t, v.Value) != `{"retries":3}` {
		t.Errorf("object variable %+v %v %v", v, found, err)
	}
	if v, found, err := c.ReadVariable(ctx, "missing"); err != nil || found || v != nil {
		t.Errorf("missing variable %+v %v %v", v, found, err)
	}

	r := c.TemplateResolver()
	data, err := r.BlockDocument(ctx, credsID)
	if err != nil || data.GetString("region_name") != "eu-west-1" {
		t.Errorf("resolver block %v, %v", data, err)
	}
	data, err = r.BlockDocumentByName(ctx, "aws-credentials", "prod creds")
	if err != nil || data.GetString("aws_access_key_id") != "AKIAEXAMPLE" {
		t.Errorf("resolver block by name %v, %v", data, err)
	}
	if _, err := r.BlockDocumentByName(ctx, "aws-credentials", "gone"); !errors.Is(err, templating.ErrNotFound) {
		t.Errorf("resolver missing block: %v", err)
	}
	val, found, err := r.Variable(ctx, "role")
	if err != nil || !found || val != "arn:aws:iam::123456789012:role/etl" {
		t.Errorf("resolver variable %v %v %v", val, found, err)
	}
	if _, found, err := r.Variable(ctx, "missing"); err != nil || found {
		t.Errorf("resolver missing variable %v %v", found, err)
	}
}

// TestIntegrationErrors covers every error path a caller must tell apart.
func TestIntegrationErrors(t *testing.T) {
	t.Parallel()
	type result struct {
		err   error
		calls map[string]int
		waits []time.Duration
	}
	readPool := func(ctx context.Context, c *prefect.Client) error { _, err := c.ReadWorkPool(ctx, "pool"); return err }
	tests := map[string]struct {
		server prefectfake.Options
		cfg    prefectconfig.Config
		faults []prefectfake.Fault
		do     func(ctx context.Context, c *prefect.Client) error
		// wantErr: "" means success.
		wantErr   string
		wantIs    error
		transient bool
		check     func(t *testing.T, r result)
	}{
		"401 bearer: wrong key": {
			server: prefectfake.Options{APIKey: "pnu_right"}, cfg: prefectconfig.Config{APIKey: "pnu_wrongkey"},
			do: readPool, wantIs: prefect.ErrUnauthorized,
			wantErr: `read work pool "pool": GET /work_pools/pool: 401 Unauthorized: Invalid authentication credentials (the server refused the credentials: check PREFECT_API_KEY`,
		},
		"401 bearer: no key": {
			server: prefectfake.Options{APIKey: "pnu_right"},
			do:     readPool, wantIs: prefect.ErrUnauthorized, wantErr: "none are set: set PREFECT_API_KEY",
		},
		"bearer: right key": {
			server: prefectfake.Options{APIKey: "pnu_right"}, cfg: prefectconfig.Config{APIKey: "pnu_right"}, do: readPool,
		},
		"401 basic: wrong auth string": {
			server: prefectfake.Options{AuthString: "admin:right"}, cfg: prefectconfig.Config{AuthString: "admin:wrongpass"},
			do: readPool, wantIs: prefect.ErrUnauthorized,
			wantErr: "401 Unauthorized: Unauthorized (the server refused the credentials: check PREFECT_API_AUTH_STRING",
		},
		"401 basic: a key is not enough": {
			server: prefectfake.Options{AuthString: "admin:right"}, cfg: prefectconfig.Config{APIKey: "pnu_key"},
			do: readPool, wantIs: prefect.ErrUnauthorized,
		},
		"basic: right auth string wins over a key": {
			server: prefectfake.Options{AuthString: "admin:right"}, cfg: prefectconfig.Config{AuthString: "admin:right", APIKey: "pnu_key"}, do: readPool,
		},
		"basic: health needs no credentials": {
			server: prefectfake.Options{AuthString: "admin:right"},
			do:     func(ctx context.Context, c *prefect.Client) error { return c.Health(ctx) },
		},
		"403 CSRF: client without CSRF support": {
			server: prefectfake.Options{CSRF: true}, cfg: prefectconfig.Config{CSRFEnabled: false},
			do: func(ctx context.Context, c *prefect.Client) error {
				_, err := c.Heartbeat(ctx, "pool", prefectpool.WorkerHeartbeat{Name: "w"})
				return err
			},
			wantIs: prefect.ErrForbidden, wantErr: "403 Forbidden: Missing",
		},
		"403 reserved pool name": {
			do: func(ctx context.Context, c *prefect.Client) error {
				_, err := c.CreateWorkPool(ctx, prefectpool.WorkPoolCreate{Name: "Prefect-pool", Type: "ecs"})
				return err
			},
			wantIs:  prefect.ErrForbidden,
			wantErr: `create work pool "Prefect-pool": POST /work_pools/: 403 Forbidden: Work pools starting with 'Prefect' are reserved for internal use.`,
		},
		"403 reserved pool name on delete": {
			do:     func(ctx context.Context, c *prefect.Client) error { return c.DeleteWorkPool(ctx, "prefect-managed") },
			wantIs: prefect.ErrForbidden,
		},
		"404 pool": {
			do:     func(ctx context.Context, c *prefect.Client) error { _, err := c.ReadWorkPool(ctx, "nope"); return err },
			wantIs: prefect.ErrNotFound, wantErr: `read work pool "nope": GET /work_pools/nope: 404 Not Found: Work pool "nope" not found.`,
		},
		"404 flow run": {
			do: func(ctx context.Context, c *prefect.Client) error {
				_, err := c.ReadFlowRun(ctx, "6f1c0d5e-1d0e-4c35-9c1b-0a5a3b1f2c3d")
				return err
			},
			wantIs: prefect.ErrNotFound, wantErr: "read flow run 6f1c0d5e-1d0e-4c35-9c1b-0a5a3b1f2c3d: GET /flow_runs/6f1c0d5e-1d0e-4c35-9c1b-0a5a3b1f2c3d: 404 Not Found",
		},
		"404 scheduled runs of a missing pool": {
			do: func(ctx context.Context, c *prefect.Client) error {
				_, err := c.GetScheduledFlowRuns(ctx, "nope", nil, testNow, 0)
				return err
			},
			wantIs: prefect.ErrNotFound,
		},
		"409 pool exists": {
			do: func(ctx context.Context, c *prefect.Client) error {
				_, err := c.CreateWorkPool(ctx, prefectpool.WorkPoolCreate{Name: "pool", Type: "ecs"})
				return err
			},
			wantIs: prefect.ErrConflict, wantErr: "409 Conflict: A work pool with this name already exists.",
		},
		"422 template default against its schema": {
			do: func(ctx context.Context, c *prefect.Client) error {
				_, err := c.CreateWorkPool(ctx, prefectpool.WorkPoolCreate{Name: "bad", Type: "ecs", BaseJobTemplate: decodeObj(t,
					`{"job_configuration":{"cpu":"{{ cpu }}"},"variables":{"type":"object","properties":{"cpu":{"type":"integer","default":"lots"}}}}`)})
				return err
			},
			wantIs: prefect.ErrUnprocessable, wantErr: `create work pool "bad": POST /work_pools/: 422 Unprocessable Entity: `,
		},
		"429 with Retry-After: retried and honoured": {
			cfg:    prefectconfig.Config{MaxRetries: 5},
			faults: []prefectfake.Fault{{Method: "GET", Path: "/work_pools/pool", Status: 429, RetryAfter: "3", Count: 2}},
			do:     readPool,
			check: func(t *testing.T, r result) {
				if !slices.Equal(r.waits, []time.Duration{3 * time.Second, 3 * time.Second}) || r.calls["GET /work_pools/{name}"] != 3 {
					t.Errorf("waits %v, calls %v", r.waits, r.calls)
				}
			},
		},
		"429 with an HTTP-date Retry-After": {
			cfg: prefectconfig.Config{MaxRetries: 5},
			faults: []prefectfake.Fault{{Method: "GET", Path: "/work_pools/{name}", Status: 429,
				RetryAfter: testNow.Add(42 * time.Second).Format(http.TimeFormat), Count: 1}},
			do: readPool,
			check: func(t *testing.T, r result) {
				if !slices.Equal(r.waits, []time.Duration{42 * time.Second}) {
					t.Errorf("waits %v", r.waits)
				}
			},
		},
		"429 beyond the retry budget": {
			cfg:    prefectconfig.Config{MaxRetries: 1},
			faults: []prefectfake.Fault{{Path: "/work_pools/pool", Status: 429, RetryAfter: "1"}},
			do:     readPool, wantErr: "429 Too Many Requests", transient: true,
			check: func(t *testing.T, r result) {
				var ae *prefecterr.APIError
				if !errors.As(r.err, &ae) || ae.RetryAfter != time.Second || r.calls["GET /work_pools/{name}"] != 2 {
					t.Errorf("error %#v, calls %v", r.err, r.calls)
				}
			},
		},
		"503 retried with backoff": {
			cfg:    prefectconfig.Config{MaxRetries: 5},
			faults: []prefectfake.Fault{{Path: "/work_pools/*", Status: 503, Count: 2}},
			do:     readPool,
			check: func(t *testing.T, r result) {
				if !slices.Equal(r.waits, []time.Duration{2 * time.Second, 4 * time.Second}) {
					t.Errorf("waits %v", r.waits)
				}
			},
		},
		"502 until retries run out": {
			cfg:    prefectconfig.Config{MaxRetries: 2},
			faults: []prefectfake.Fault{{Path: "/work_pools/pool", Status: 502, Body: "<html><title>502 Bad Gateway</title></html>"}},
			do:     readPool, transient: true,
			wantErr: `read work pool "pool": GET /work_pools/pool: 502 Bad Gateway: HTML page: 502 Bad Gateway`,
			check: func(t *testing.T, r result) {
				if r.calls["GET /work_pools/{name}"] != 3 || len(r.waits) != 2 {
					t.Errorf("calls %v waits %v", r.calls, r.waits)
				}
			},
		},
		"500 returned to the caller": {
			cfg:    prefectconfig.Config{MaxRetries: 5},
			faults: []prefectfake.Fault{{Path: "/work_pools/pool", Status: 500, Count: 1}},
			do:     readPool, transient: true,
			wantErr: "500 Internal Server Error: Internal Server Error",
			check: func(t *testing.T, r result) {
				if len(r.waits) != 0 {
					t.Errorf("500 was retried: %v", r.waits)
				}
			},
		},
		"500 retried when listed in the extra codes": {
			cfg:    prefectconfig.Config{MaxRetries: 5, ExtraRetryCodes: []int{500}},
			faults: []prefectfake.Fault{{Path: "/work_pools/pool", Status: 500, Count: 1}},
			do:     readPool,
		},
		"hanging server: timeout": {
			cfg:    prefectconfig.Config{MaxRetries: 1, Timeout: 100 * time.Millisecond},
			faults: []prefectfake.Fault{{Path: "/work_pools/pool", Hang: true}},
			do:     readPool, transient: true,
			wantErr: `read work pool "pool": GET http://`,
			check: func(t *testing.T, r result) {
				var te *prefecterr.TransportError
				if !errors.As(r.err, &te) || te.Timeout != 100*time.Millisecond || !strings.Contains(r.err.Error(), "no response within 100ms") {
					t.Errorf("error %v", r.err)
				}
				if r.calls["GET /work_pools/{name}"] != 2 {
					t.Errorf("calls %v", r.calls)
				}
			},
		},
		"slow answer within the timeout": {
			cfg:    prefectconfig.Config{Timeout: 5 * time.Second},
			faults: []prefectfake.Fault{{Path: "/work_pools/pool", Delay: 20 * time.Millisecond, Count: 1}},
			do:     readPool,
		},
		"bad JSON": {
			faults: []prefectfake.Fault{{Method: "GET", Path: "/work_pools/pool", Status: 200, Body: `{"id": "x", "name": `}},
			do:     readPool, wantIs: prefect.ErrInvalidResponse,
			wantErr: `read work pool "pool": GET /work_pools/pool: the server answered 200 OK with a body that is not the expected JSON`,
		},
		"bad JSON in a list": {
			faults: []prefectfake.Fault{{Method: "POST", Path: "/flow_runs/filter", Status: 200, Body: `[{"id": 1}]`}},
			do: func(ctx context.Context, c *prefect.Client) error {
				_, err := c.FilterFlowRuns(ctx, prefect.FlowRunFilter{})
				return err
			},
			wantIs: prefect.ErrInvalidResponse, wantErr: "list flow runs: POST /flow_runs/filter",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := start(t, tc.server, tc.cfg)
			e.srv.CreateWorkPool("pool", "ecs", nil)
			for _, f := range tc.faults {
				e.srv.InjectFault(f)
			}
			err := tc.do(context.Background(), e.client)
			r := result{err: err, calls: e.srv.Calls(), waits: e.sleeps.get()}
			if tc.check != nil {
				tc.check(t, r)
			}
			if tc.wantErr == "" && tc.wantIs == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q\nwant      %q", err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("errors.Is(%v, %v) is false", err, tc.wantIs)
			}
			if got := prefect.IsTransient(err); got != tc.transient {
				t.Errorf("IsTransient = %v, want %v", got, tc.transient)
			}
			for _, secret := range []string{"pnu_wrongkey", "wrongpass", "pnu_key", "pnu_right"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks %q: %v", secret, err)
				}
			}
		})
	}
}

// TestIntegrationSetStateRetry checks that a set_state retried after a 502
// is applied once, with the transition id of the first attempt.
func TestIntegrationSetStateRetry(t *testing.T) {
	t.Parallel()
	e := start(t, prefectfake.Options{}, prefectconfig.Config{MaxRetries: 5})
	f := e.srv.CreateFlow("f")
	d := e.srv.CreateDeployment(f["id"].(string), "d", "pool", "", nil)
	runID := e.srv.CreateFlowRun(d["id"].(string), nil, time.Time{})["id"].(string)
	e.srv.InjectFault(prefectfake.Fault{Method: "POST", Path: "/flow_runs/{id}/set_state", Status: 502, Count: 1})
	res, err := e.client.SetFlowRunState(context.Background(), runID, prefect.StateCreate{Type: prefect.StatePending, Name: "Pending"}, false)
	if err != nil || res.Status != prefect.StatusAccept {
		t.Fatalf("result %+v, err %v", res, err)
	}
	if n := e.srv.Calls()["POST /flow_runs/{id}/set_state"]; n != 2 || len(e.sleeps.get()) != 1 {
		t.Errorf("%d calls, waits %v", n, e.sleeps.get())
	}
	h := e.srv.StateHistory(runID)
	if len(h) != 2 {
		t.Fatalf("history %v", h)
	}
	details, _ := h[1]["state_details"].(map[string]any)
	if details["transition_id"] == nil || details["transition_id"] != res.State.StateDetails.TransitionID {
		t.Errorf("transition id %v, result %v", details["transition_id"], res.State.StateDetails.TransitionID)
	}
}

func TestIntegrationCSRF(t *testing.T) {
	t.Parallel()
	heartbeat := func(e *env) error {
		_, err := e.client.Heartbeat(context.Background(), "pool", prefectpool.WorkerHeartbeat{Name: "w"})
		return err
	}
	t.Run("token fetched once for many requests", func(t *testing.T) {
		t.Parallel()
		e := start(t, prefectfake.Options{CSRF: true}, prefectconfig.Config{CSRFEnabled: true})
		e.srv.CreateWorkPool("pool", "ecs", nil)
		for range 3 {
			if err := heartbeat(e); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.client.ReadWorkPool(context.Background(), "pool"); err != nil {
			t.Fatal(err)
		}
		if n := e.srv.Calls()["GET /csrf-token"]; n != 1 {
			t.Errorf("%d token fetches", n)
		}
	})
	t.Run("expired token renewed before use", func(t *testing.T) {
		t.Parallel()
		e := start(t, prefectfake.Options{CSRF: true, CSRFTokenTTL: time.Hour}, prefectconfig.Config{CSRFEnabled: true})
		e.srv.CreateWorkPool("pool", "ecs", nil)
		if err := heartbeat(e); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Hour)
		if err := heartbeat(e); err != nil {
			t.Fatal(err)
		}
		calls := e.srv.Calls()
		if calls["GET /csrf-token"] != 2 || calls["POST /work_pools/{work_pool_name}/workers/heartbeat"] != 2 {
			t.Errorf("calls %v", calls)
		}
	})
	t.Run("token refused: refreshed and retried", func(t *testing.T) {
		t.Parallel()
		// The server's clock runs ahead of the client's, so the token the
		// client believes valid has expired on the server.
		serverClock := newFakeClock()
		e := start(t, prefectfake.Options{CSRF: true, CSRFTokenTTL: time.Hour, Now: serverClock.Now}, prefectconfig.Config{CSRFEnabled: true})
		e.srv.CreateWorkPool("pool", "ecs", nil)
		if err := heartbeat(e); err != nil {
			t.Fatal(err)
		}
		serverClock.Advance(2 * time.Hour)
		if err := heartbeat(e); err != nil {
			t.Fatalf("heartbeat with a refused token: %v", err)
		}
		calls := e.srv.Calls()
		if calls["GET /csrf-token"] != 2 || calls["POST /work_pools/{work_pool_name}/workers/heartbeat"] != 3 || len(e.sleeps.get()) != 0 {
			t.Errorf("calls %v, waits %v", calls, e.sleeps.get())
		}
		if len(e.srv.Heartbeats()) != 2 {
			t.Errorf("heartbeats %v", e.srv.Heartbeats())
		}
	})
	t.Run("server without CSRF: asked once, then never", func(t *testing.T) {
		t.Parallel()
		e := start(t, prefectfake.Options{CSRF: false}, prefectconfig.Config{CSRFEnabled: true})
		e.srv.CreateWorkPool("pool", "ecs", nil)
		for range 2 {
			if err := heartbeat(e); err != nil {
				t.Fatal(err)
			}
		}
		if n := e.srv.Calls()["GET /csrf-token"]; n != 1 {
			t.Errorf("%d token fetches", n)
		}
	})
	t.Run("token endpoint failing is an error naming it", func(t *testing.T) {
		t.Parallel()
		e := start(t, prefectfake.Options{CSRF: true}, prefectconfig.Config{CSRFEnabled: true, MaxRetries: 0})
		e.srv.CreateWorkPool("pool", "ecs", nil)
		e.srv.InjectFault(prefectfake.Fault{Path: "/csrf-token", Status: 500, Count: 1})
		err := heartbeat(e)
		if err == nil || !strings.Contains(err.Error(), "fetch a CSRF token: GET /csrf-token") || !prefect.IsTransient(err) {
			t.Errorf("error %v", err)
		}
		if err := heartbeat(e); err != nil {
			t.Errorf("after the fault: %v", err)
		}
	})
}

func TestIntegrationCloud(t *testing.T) {
	t.Parallel()
	e := start(t, prefectfake.Options{Cloud: true, APIKey: "pnu_cloudkey"}, prefectconfig.Config{APIKey: "pnu_cloudkey", CSRFEnabled: true})
	ctx := context.Background()
	c := e.client
	if !c.IsCloud() || !c.Config().IsCloud() {
		t.Fatal("client does not see Cloud")
	}
	if ui := c.Config().UIURL(); !strings.HasSuffix(ui, "/account/"+prefectfake.DefaultAccountID+"/workspace/"+prefectfake.DefaultWorkspaceID) {
		t.Errorf("UI URL %q", ui)
	}
	if _, err := c.CreateWorkPool(ctx, prefectpool.WorkPoolCreate{Name: "pool", Type: "ecs"}); err != nil {
		t.Fatal(err)
	}
	meta := jsonv.ObjectOf("integrations", []any{jsonv.ObjectOf("name", "ecsworker", "version", "1.2.3")})
	id, err := c.Heartbeat(ctx, "pool", prefectpool.WorkerHeartbeat{Name: "w", HeartbeatIntervalSeconds: 30, ReturnID: true, Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	workers := e.srv.Workers("pool")
	if len(workers) != 1 || id == "" || id != workers[0]["id"] {
		t.Errorf("worker id %q, workers %v", id, workers)
	}
	c.SetWorker("w", id)
	if err := c.CreateLogs(ctx, []prefect.LogCreate{{Name: "prefect.workers.ecs", Level: prefect.LevelInfo, Message: "started", WorkerID: id}}); err != nil {
		t.Fatal(err)
	}
	if logs := e.srv.Logs(); len(logs) != 1 || logs[0]["worker_id"] != id {
		t.Errorf("logs %v", logs)
	}
	if n := e.srv.Calls()["GET /csrf-token"]; n != 0 {
		t.Errorf("Cloud client fetched CSRF tokens %d times", n)
	}
	wrong, _ := newTestClient(t, prefectconfig.Config{APIURL: e.srv.URL(), CloudAPIURL: c.Config().CloudAPIURL, APIKey: "pnu_wrongkey"})
	if _, err := wrong.ReadWorkPool(ctx, "pool"); !errors.Is(err, prefect.ErrUnauthorized) || strings.Contains(err.Error(), "pnu_wrongkey") {
		t.Errorf("wrong key: %v", err)
	}
}
