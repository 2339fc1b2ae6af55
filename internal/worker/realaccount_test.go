package worker_test

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"log/slog"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/worker"
)

// The tests of this file play the accounts users have rather than the one
// the worker was built in: the IAM policy Prefect documents for its own ECS
// worker, endpoints that lack an operation or never answer, several
// credential blocks assuming one role, and both services down at shutdown.

// prefectWorkerPolicy is the policy Prefect's ECS guide gives the worker:
// a team switching over keeps it.
var prefectWorkerPolicy = awsfake.AllowActions(
	"ec2:DescribeSubnets", "ec2:DescribeVpcs",
	"ecs:DeregisterTaskDefinition", "ecs:DescribeTaskDefinition", "ecs:DescribeTasks",
	"ecs:RegisterTaskDefinition", "ecs:RunTask", "ecs:StopTask", "ecs:TagResource",
	"iam:PassRole", "logs:GetLogEvents", "logs:PutLogEvents",
)

// logBuffer is a log destination tests can read while the worker writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is one worker process: its own AWS client factory (so its own
// memory of refused actions) and its own log.
type process struct {
	log  *logBuffer
	stop func()
}

func (e *env) startProcess(name string, tune func(*awsclient.FactoryOptions, *workerConfig)) *process {
	p := &process{log: &logBuffer{}}
	logger := slog.New(slog.NewTextHandler(p.log, nil))
	fo := awsclient.FactoryOptions{HTTPClient: e.aws.HTTPClient(), BaseEndpoint: e.aws.URL(), Permissions: awserr.PermissionOptions{Logger: logger}}
	cfg := e.config(name)
	cfg.Logger = logger
	if tune != nil {
		tune(&fo, &cfg)
	}
	e.factory = awsclient.NewFactory(fo)
	_, p.stop = e.startWorker(cfg)
	return p
}

func (e *env) waitForTasks(ids ...string) {
	e.t.Helper()
	e.waitFor("every run's task", 10*time.Minute, func() bool {
		for _, id := range ids {
			if e.prefect.FlowRun(id)["infrastructure_pid"] == nil {
				return false
			}
		}
		return true
	})
}

// Under Prefect's documented policy every run gets its task, a restarted
// worker reuses the revision its predecessor registered (no
// ecs:ListTaskDefinitions needed), and each process asks for the missing
// action at most once, with one warning naming it and its cost.
func TestPrefectDocumentedPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{
			"execution_role_arn":        "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
			"configure_cloudwatch_logs": true,
			"image":                     "etl:long",
		})
		if err := e.aws.SetIdentityPolicy("", prefectWorkerPolicy); err != nil {
			t.Fatal(err)
		}
		// Two runs with other images first, so that the family's latest
		// revision is not the one wanted and the worker would list older
		// revisions (ecs:ListTaskDefinitions, which the policy lacks).
		first := e.startProcess("w1", nil)
		v2, v3 := e.run(map[string]any{"image": "etl:long-v2"}), e.run(map[string]any{"image": "etl:long-v3"})
		e.waitForTasks(v2)
		e.waitForTasks(v3)
		var ids []string
		for range 5 {
			ids = append(ids, e.run(nil))
		}
		e.waitForTasks(ids...)
		first.stop()

		// The restarted worker reuses the latest revision without listing.
		second := e.startProcess("w1", nil)
		defer second.stop()
		var more []string
		for range 3 {
			more = append(more, e.run(nil))
		}
		e.waitForTasks(more...)
		if n := e.aws.Calls()["ecs:RegisterTaskDefinition"]; n != 3 {
			t.Errorf("%d registrations for 3 task definitions over a restart, want 3", n)
		}
		v4 := e.run(map[string]any{"image": "etl:long-v4"})
		e.waitForTasks(v4)
		if n := e.aws.Calls()["ecs:RegisterTaskDefinition"]; n != 4 {
			t.Errorf("%d registrations once a fourth task definition ran, want 4", n)
		}
		for _, id := range append(append(ids, more...), v2, v3, v4) {
			if n := len(e.tasksOf(id)); n != 1 {
				t.Errorf("run %s has %d tasks, want 1", id, n)
			}
		}
		denied := e.aws.Denied()
		for action, n := range denied {
			if action != "ecs:ListTaskDefinitions" || n != 2 {
				t.Errorf("%s denied %d times; want only ecs:ListTaskDefinitions, once per process", action, n)
			}
		}
		for i, p := range []*process{first, second} {
			log := p.log.String()
			if n := strings.Count(log, "level=WARN msg=\"AWS denied"); n != 1 {
				t.Errorf("process %d warned %d times about denied actions, want once:\n%s", i+1, n, log)
			}
			if !strings.Contains(log, "AWS denied ecs:ListTaskDefinitions") || !strings.Contains(log, "latest revision is reused") {
				t.Errorf("process %d's warning does not name the action and what it costs:\n%s", i+1, log)
			}
		}
	})
}

// An ECS-compatible endpoint without ListTaskDefinitions: the worker does
// without it instead of calling it temporary and leaving runs Pending.
func TestEndpointWithoutListTaskDefinitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:long"})
		e.aws.RemoveOperation("ecs", "ListTaskDefinitions")
		p := e.startProcess("w1", nil)
		defer p.stop()
		// The second image makes the family's latest revision a different
		// one, so that the worker would list older revisions.
		a := e.run(nil)
		e.waitForTasks(a)
		b := e.run(map[string]any{"image": "etl:long-v2"})
		c := e.run(map[string]any{"image": "etl:long-v3"})
		e.waitForTasks(b, c)
		if n := e.aws.Calls()["ecs:ListTaskDefinitions"]; n > 1 {
			t.Errorf("ListTaskDefinitions asked %d times, want at most once", n)
		}
		if !strings.Contains(p.log.String(), "does not implement ecs:ListTaskDefinitions") {
			t.Errorf("no warning that the endpoint lacks the operation:\n%s", p.log.String())
		}
	})
}

// A RunTask that never answers is abandoned after the call timeout, the run
// says so in its logs and stays claimed, /health turns unhealthy, and once
// AWS answers again the run is resumed with the same client token: one task.
func TestHungRunTaskIsAbandonedAndResumed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:long"})
		release := e.aws.Hold("ecs", "RunTask")
		p := e.startProcess("w1", func(fo *awsclient.FactoryOptions, cfg *workerConfig) {
			fo.Timeouts = awsclient.CallTimeouts{Attempt: 10 * time.Second, Total: 30 * time.Second}
			cfg.AWSUnhealthyAfter = 2 * time.Minute
		})
		defer p.stop()
		w := e.lastWorker
		id := e.run(nil)
		created := time.Now()
		e.waitFor("the submission to give up on the hung RunTask", 5*time.Minute, func() bool {
			return strings.Contains(e.runLogs(id), "Could not start the ECS task yet")
		})
		t.Logf("the hung RunTask was given up %s after the run was created (call timeout 30s)", time.Since(created).Round(time.Second))
		if typ, _, _ := e.state(id); typ != "PENDING" {
			t.Errorf("run is %s while AWS hangs, want PENDING (claimed, to be resumed)", typ)
		}
		e.waitFor("the health check to report AWS", 5*time.Minute, func() bool {
			ok, why := w.Healthy()
			return !ok && strings.Contains(why, "AWS")
		})
		_, why := w.Healthy()
		t.Logf("/health unhealthy %s after the run was created: %s", time.Since(created).Round(time.Second), why)
		rec := httptest.NewRecorder()
		e.lastWorker.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
		if rec.Code != 503 {
			t.Errorf("/health %d while AWS hangs, want 503", rec.Code)
		}
		release()
		released := time.Now()
		e.waitForTasks(id)
		t.Logf("task recorded %s after AWS answered again", time.Since(released).Round(time.Second))
		if n := len(e.tasksOf(id)); n != 1 {
			t.Errorf("%d tasks after the resume, want 1", n)
		}
		e.waitFor("the health check to recover", 5*time.Minute, func() bool { ok, _ := w.Healthy(); return ok })
	})
}

// Two aws-credentials blocks that assume one role with different
// ExternalIds are two identities: two AssumeRole calls, each with its own
// ExternalId, and each deployment's RunTask signed by its own session.
func TestExternalIDsKeepTenantsApart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		role := e.aws.CreateRole("tenant-runner", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":["tenant-a","tenant-b"]}}}]}`)
		block := func(externalID string) map[string]any {
			return map[string]any{
				"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI-secret", "region_name": "us-east-1",
				"assume_role_arn":    role,
				"assume_role_kwargs": map[string]any{"ExternalId": externalID},
			}
		}
		flow := e.prefect.CreateFlow("tenant-etl")
		depA := e.prefect.CreateDeployment(flow["id"].(string), "a", "ecs-pool", "", map[string]any{"cluster": "flows", "image": "etl:long", "aws_credentials": block("tenant-a")})["id"].(string)
		depB := e.prefect.CreateDeployment(flow["id"].(string), "b", "ecs-pool", "", map[string]any{"cluster": "flows", "image": "etl:long", "aws_credentials": block("tenant-b")})["id"].(string)
		p := e.startProcess("w1", nil)
		defer p.stop()
		runA := e.prefect.CreateFlowRun(depA, nil, time.Time{})["id"].(string)
		runB := e.prefect.CreateFlowRun(depB, nil, time.Time{})["id"].(string)
		e.waitForTasks(runA, runB)

		keyOf := map[string]string{}        // ExternalId -> the access key of its session
		externalIDOf := map[string]string{} // session name -> its ExternalId
		for _, c := range e.aws.AssumeRoleCalls() {
			if c.RoleARN != role || c.AccessKeyID == "" {
				continue
			}
			externalIDOf[c.SessionName] = c.ExternalID
			if _, ok := keyOf[c.ExternalID]; !ok {
				keyOf[c.ExternalID] = c.AccessKeyID
			}
		}
		if len(keyOf) != 2 || keyOf["tenant-a"] == "" || keyOf["tenant-b"] == "" || keyOf["tenant-a"] == keyOf["tenant-b"] {
			t.Fatalf("AssumeRole sessions by ExternalId: %v; want one for each tenant", keyOf)
		}
		signers := map[string]string{} // task's run -> access key that signed its RunTask
		runTasks := 0
		for _, c := range e.aws.CallLog() {
			if c.Key == "ecs:RunTask" {
				runTasks++
				signers[c.AccessKeyID] = c.Caller
			}
		}
		if runTasks != 2 {
			t.Fatalf("%d RunTask calls, want 2", runTasks)
		}
		for tenant, key := range keyOf {
			if _, ok := signers[key]; !ok {
				t.Errorf("no RunTask signed by %s's session (%s); signers %v", tenant, key, signers)
			}
		}
		// And each run's task is the one its own session started.
		for run, tenant := range map[string]string{runA: "tenant-a", runB: "tenant-b"} {
			tasks := e.tasksOf(run)
			if len(tasks) != 1 {
				t.Fatalf("run of %s has %d tasks, want 1", tenant, len(tasks))
			}
			session := tasks[0].Caller[strings.LastIndexByte(tasks[0].Caller, '/')+1:]
			if got := externalIDOf[session]; got != tenant {
				t.Errorf("run of %s: its task was started by %s, a session with ExternalId %q", tenant, tasks[0].Caller, got)
			}
		}
	})
}

// SIGTERM with Prefect and AWS both unreachable: the worker is back within
// --shutdown-timeout, whatever it was doing.
func TestShutdownWithPrefectAndAWSDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:long"})
		p := e.startProcess("w1", func(_ *awsclient.FactoryOptions, cfg *workerConfig) {
			cfg.ShutdownTimeout = 30 * time.Second
		})
		running := e.run(nil)
		e.waitForTasks(running)
		// Everything stops answering while runs are being submitted,
		// tracked and cancelled.
		e.aws.InjectFault(awsfake.Fault{Hang: true})
		for range 3 {
			e.run(nil)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		e.prefect.InjectFault(prefectfake.Fault{Hang: true})
		time.Sleep(5 * time.Second)
		synctest.Wait()
		start := time.Now()
		p.stop()
		took := time.Since(start)
		if took > 30*time.Second {
			t.Errorf("the worker took %s to stop, over its 30s shutdown timeout", took)
		}
		t.Logf("stopped %s after SIGTERM with Prefect and AWS hanging (--shutdown-timeout 30s)", took)
		e.prefect.ClearFaults()
		e.aws.ClearFaults()
	})
}

// runLogs joins the messages the worker wrote to a run's Prefect logs.
func (e *env) runLogs(id string) string {
	var b strings.Builder
	for _, l := range e.prefect.Logs() {
		if l["flow_run_id"] == id {
			msg, _ := l["message"].(string)
			b.WriteString(msg)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

type workerConfig = worker.Config

// An identity that may do everything but stop tasks and list revisions:
// runs still start, and cancellations are reported although their tasks
// cannot be stopped, the refused action being asked once.
func TestRunsDegradeWithoutOptionalActions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, map[string]any{"image": "etl:slow-start"})
		if err := e.aws.SetIdentityPolicy("", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
			{"Effect":"Deny","Action":["ecs:StopTask","ecs:ListTaskDefinitions"],"Resource":"*"}]}`); err != nil {
			t.Fatal(err)
		}
		p := e.startProcess("w1", nil)
		defer p.stop()
		var ids []string
		for range 2 {
			ids = append(ids, e.run(nil))
		}
		e.waitForTasks(ids...)
		for _, id := range ids {
			e.prefect.ProposeFlowRunState(id, "CANCELLING", "Cancelling")
		}
		e.waitFor("the runs to be cancelled", 5*time.Minute, func() bool {
			for _, id := range ids {
				if typ, _, _ := e.state(id); typ != "CANCELLED" {
					return false
				}
			}
			return true
		})
		if _, _, msg := e.state(ids[0]); !strings.Contains(msg, "ecs:StopTask") {
			t.Errorf("cancelled with %q, want it to say the task could not be stopped", msg)
		}
		if n := e.aws.Denied()["ecs:StopTask"]; n != 1 {
			t.Errorf("StopTask refused %d times for 2 cancellations, want once", n)
		}
		if n := strings.Count(p.log.String(), "AWS denied ecs:StopTask"); n != 1 {
			t.Errorf("%d warnings about ecs:StopTask, want 1:\n%s", n, p.log.String())
		}
	})
}
