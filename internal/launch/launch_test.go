package launch_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/launch"
)

func TestClientToken(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ flowRun, claim string }{
		"uuid":           {"0b9e5ad6-6a3e-4c4c-9f43-2f7f8f4a1c11", "claim-1"},
		"empty claim":    {"0b9e5ad6-6a3e-4c4c-9f43-2f7f8f4a1c11", ""},
		"long id":        {strings.Repeat("x", 100), "c"},
		"odd characters": {"run with spaces/é", "c"},
		"empty flow run": {"", "c"},
	}
	seen := map[string]bool{}
	for name, tc := range tests {
		tok := launch.ClientToken(tc.flowRun, tc.claim)
		if tok != launch.ClientToken(tc.flowRun, tc.claim) {
			t.Errorf("%s: not deterministic", name)
		}
		if len(tok) == 0 || len(tok) > 64 {
			t.Errorf("%s: %d characters", name, len(tok))
		}
		for _, r := range tok {
			if r < 33 || r > 126 {
				t.Errorf("%s: character %q not allowed by ECS", name, r)
			}
		}
		if seen[tok] {
			t.Errorf("%s: token %s reused", name, tok)
		}
		seen[tok] = true
	}
	a := launch.ClientToken("0b9e5ad6-6a3e-4c4c-9f43-2f7f8f4a1c11", "claim-1")
	if !strings.HasPrefix(a, "0b9e5ad6-6a3e-4c4c-9f43-2f7f8f4a1c11.") || a == launch.ClientToken("0b9e5ad6-6a3e-4c4c-9f43-2f7f8f4a1c11", "claim-2") {
		t.Errorf("token %s: want the flow run id first, and one token per claim", a)
	}
}

func TestLaunch(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	clusterArn := w.Srv.CreateCluster("prod")
	defaultArn := w.Srv.CreateCluster("default")
	_, defaultSubnets, _ := w.Srv.DefaultNetwork()
	l := newLauncher(w, nil, launch.Options{})
	tests := map[string]struct {
		cluster        string
		wantIdentifier func(taskArn string) string
	}{
		"named cluster":   {cluster: "prod", wantIdentifier: func(a string) string { return "prod::" + a }},
		"default cluster": {wantIdentifier: func(a string) string { return defaultArn + "::" + a }},
		"cluster ARN":     {cluster: clusterArn, wantIdentifier: func(a string) string { return clusterArn + "::" + a }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := l.Launch(context.Background(), fargatePlan("prefect_pool_launch", tc.cluster, name), launch.ClientToken(name, "c"))
			if err != nil {
				t.Fatal(err)
			}
			if got.Identifier != tc.wantIdentifier(got.TaskARN) || got.Attempts != 1 || got.TaskDefinitionARN == "" {
				t.Errorf("launched %+v", got)
			}
			cluster, arn, err := launch.ParseIdentifier(got.Identifier)
			if err != nil || arn != got.TaskARN || cluster == "" {
				t.Errorf("ParseIdentifier(%q) = %q, %q, %v", got.Identifier, cluster, arn, err)
			}
			task := taskView(t, w, got.TaskARN)
			if task.ClientToken != launch.ClientToken(name, "c") || task.Tags["prefect.io/flow-run-id"] != name {
				t.Errorf("task %+v", task)
			}
		})
	}
	// Every launch used the subnets of the default VPC.
	first := w.Srv.Tasks()[0]
	out, err := w.Clients.ECS.DescribeTasks(context.Background(), &ecs.DescribeTasksInput{Cluster: aws.String(first.ClusterArn), Tasks: []string{first.Arn}})
	if err != nil || len(out.Tasks) != 1 {
		t.Fatal(err, out)
	}
	var subnets []string
	for _, a := range out.Tasks[0].Attachments {
		for _, d := range a.Details {
			if aws.ToString(d.Name) == "subnetId" {
				subnets = append(subnets, aws.ToString(d.Value))
			}
		}
	}
	if len(subnets) != 1 || !slices.Contains(defaultSubnets, subnets[0]) {
		t.Errorf("task placed in %v, want one of the default VPC's %v", subnets, defaultSubnets)
	}
	if n := w.Calls("ec2:DescribeSubnets"); n != 1 {
		t.Errorf("%d DescribeSubnets calls for 3 launches, want 1 (the network is cached)", n)
	}
}

func taskView(t *testing.T, w *awsclienttest.World, arn string) awsfake.TaskView {
	t.Helper()
	for _, tv := range w.Srv.Tasks() {
		if tv.Arn == arn {
			return tv
		}
	}
	t.Fatalf("no task %s", arn)
	return awsfake.TaskView{}
}

// Repeated runs of a deployment register its task definition once.
func TestRepeatedRunsRegisterOneRevision(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	w.Srv.CreateCluster("prod")
	l := newLauncher(w, nil, launch.Options{})
	const runs = 12
	var registered int
	arns := map[string]bool{}
	for i := range runs {
		got, err := l.Launch(context.Background(), fargatePlan("prefect_pool_dep1", "prod", fmt.Sprintf("run-%d", i)), launch.ClientToken(fmt.Sprintf("run-%d", i), "claim"))
		if err != nil {
			t.Fatal(err)
		}
		arns[got.TaskDefinitionARN] = true
		if got.Registered {
			registered++
		}
	}
	if n := w.Calls("ecs:RegisterTaskDefinition"); n != 1 {
		t.Errorf("%d RegisterTaskDefinition calls for %d runs, want 1", n, runs)
	}
	if len(arns) != 1 || registered != 1 {
		t.Errorf("%d task definitions used, %d launches reported registering; want 1 and 1", len(arns), registered)
	}
	if n := len(w.Srv.Tasks()); n != runs {
		t.Errorf("%d tasks, want %d", n, runs)
	}
	// Only the first run looked for a revision (the family had none, so
	// there was nothing to list): the others hit the cache.
	if d, l := w.Calls("ecs:DescribeTaskDefinition"), w.Calls("ecs:ListTaskDefinitions"); d != 1 || l != 0 {
		t.Errorf("%d DescribeTaskDefinition and %d ListTaskDefinitions calls, want 1 and 0", d, l)
	}
}

func TestRepeatedClientTokenStartsOneTask(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	w.Srv.CreateCluster("prod")
	tok := launch.ClientToken("run-1", "claim-1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	tasks := map[string]bool{}
	for range 5 { // a retried launch, a second worker replica, a restart...
		wg.Go(func() {
			l := newLauncher(w, nil, launch.Options{})
			got, err := l.Launch(context.Background(), fargatePlan("prefect_pool_tok", "prod", "run-1"), tok)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			tasks[got.TaskARN] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(tasks) != 1 || len(w.Srv.Tasks()) != 1 {
		t.Errorf("launches returned tasks %v; the server holds %d tasks; want one", tasks, len(w.Srv.Tasks()))
	}
	l := newLauncher(w, nil, launch.Options{})
	// The same token with a different request (the deployment's image
	// changed in between) still gives the task the token started.
	changed := fargatePlan("prefect_pool_tok", "prod", "run-1")
	changed.TaskDefinition = fargateTD("prefect_pool_tok", "img:new")
	again, err := l.Launch(context.Background(), changed, tok)
	if err != nil || !tasks[again.TaskARN] || len(again.Warnings) != 1 || len(w.Srv.Tasks()) != 1 {
		t.Errorf("relaunch with a changed request: %+v, %v", again, err)
	}
	other, err := l.Launch(context.Background(), fargatePlan("prefect_pool_tok", "prod", "run-1"), launch.ClientToken("run-1", "claim-2"))
	if err != nil || tasks[other.TaskARN] {
		t.Errorf("a new claim must start a new task: %v", err)
	}
}

func TestCapacityFailuresAreRetried(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		failures, retries int
		ec2               bool
		wantErr           bool
	}{
		"Fargate capacity, then a task": {failures: 3, retries: 5},
		"EC2 RESOURCE:MEMORY":           {failures: 2, retries: 5, ec2: true},
		"capacity never comes":          {failures: 10, retries: 2, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := awsclienttest.NewWorld(t, awsclienttest.Options{Fake: awsfake.Options{Script: func(awsfake.TaskInfo) awsfake.Outcome {
				return awsfake.Outcome{CapacityFailures: tc.failures}
			}}})
			plan := fargatePlan("prefect_pool_cap", "prod", "r")
			if tc.ec2 {
				w.Srv.AddContainerInstances("prod", 1, 4096, 8192)
				plan = ec2Plan("prefect_pool_cap", "prod")
			} else {
				w.Srv.CreateCluster("prod")
			}
			rec := &awsclienttest.Sleeps{}
			l := newLauncher(w, rec, launch.Options{CapacityRetries: tc.retries})
			got, err := l.Launch(context.Background(), plan, "tok-"+strings.ReplaceAll(name, " ", "-"))
			if tc.wantErr {
				var le *awserr.LaunchError
				if !errors.As(err, &le) || le.Kind != awserr.KindCapacity || le.Attempts != tc.retries+1 || !strings.Contains(le.Error(), "Capacity is unavailable") {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Attempts != tc.failures+1 {
				t.Errorf("%d attempts, want %d", got.Attempts, tc.failures+1)
			}
			d := rec.All()
			if len(d) != tc.failures {
				t.Fatalf("sleeps %v", d)
			}
			for i, s := range d {
				limit := min(5*time.Second<<i, time.Minute)
				if s < limit/2 || s > limit {
					t.Errorf("sleep %d = %v, want between %v and %v", i, s, limit/2, limit)
				}
			}
			if n := len(w.Srv.Tasks()); n != 1 {
				t.Errorf("%d tasks", n)
			}
		})
	}
}

// ec2Plan is a plan for an EC2 task definition in bridge network mode.
func ec2Plan(family, cluster string) *ecsrequest.Plan {
	td := jsonv.ObjectOf("family", family, "containerDefinitions", []any{jsonv.ObjectOf("name", "prefect", "image", "img", "cpu", 1024, "memory", 2048)})
	rt := jsonv.ObjectOf("cluster", cluster, "launchType", "EC2", "taskDefinition", ecsrequest.MarkTaskDefinitionARN)
	return &ecsrequest.Plan{TaskDefinition: td, RunTask: rt, Launch: ecsrequest.LaunchEC2, Cluster: cluster}
}

func TestThrottlingIsAbsorbed(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		budget        awsclient.BudgetConfig
		wantThrottled bool
	}{
		// The budget keeps the worker under the (tightened) ECS limit: AWS
		// never has to throttle. The budget makes calls wait, so this case
		// runs on synctest's clock.
		"the budget keeps under the limit": {budget: awsclient.BudgetConfig{"ecs:RunTask": {Rate: 50, Burst: 2}}},
		// Without a budget AWS throttles; the SDK's and the launcher's
		// retries absorb it. The launcher's backoff moves a fake clock.
		"retries absorb AWS throttling": {wantThrottled: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if tc.wantThrottled {
				testThrottling(t, tc.budget, true)
				return
			}
			synctest.Test(t, func(t *testing.T) { testThrottling(t, tc.budget, false) })
		})
	}
}

func testThrottling(t *testing.T, budget awsclient.BudgetConfig, wantThrottled bool) {
	const launches = 12
	w := awsclienttest.NewWorld(t, awsclienttest.Options{
		Clock:     wantThrottled,
		InProcess: !wantThrottled,
		Budget:    budget,
		Retries:   2,
		Fake:      awsfake.Options{Throttle: map[string]awsfake.Bucket{"ecs:RunTask": {Burst: 3, Refill: 100}}},
	})
	w.Srv.CreateCluster("prod")
	l := newLauncher(w, nil, launch.Options{ThrottleRetries: 20})
	var wg sync.WaitGroup
	for i := range launches {
		wg.Go(func() {
			id := fmt.Sprintf("run-%d", i)
			if _, err := l.Launch(context.Background(), fargatePlan("prefect_pool_thr", "prod", id), launch.ClientToken(id, "c")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(w.Srv.Tasks()); n != launches {
		t.Errorf("%d tasks, want %d", n, launches)
	}
	throttled := w.Srv.Throttled()["ecs:RunTask"]
	if (throttled > 0) != wantThrottled {
		t.Errorf("AWS throttled %d RunTask calls", throttled)
	}
	if !wantThrottled && w.Budget.Counters()["ecs:RunTask"].Waits == 0 {
		t.Error("the budget never made a call wait")
	}
}

func TestPermanentErrorsAreNotRetried(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		plan     func() *ecsrequest.Plan
		fault    *awsfake.Fault
		wantKind awserr.ErrorKind
		want     []string
	}{
		"cluster not found": {
			plan:     func() *ecsrequest.Plan { return fargatePlan("prefect_pool_perm", "nope", "r") },
			wantKind: awserr.KindNotFound,
			want:     []string{"ClusterNotFoundException", `cluster "nope"`, "create-cluster --cluster-name nope"},
		},
		"invalid parameter": {
			plan: func() *ecsrequest.Plan {
				p := fargatePlan("prefect_pool_perm", "prod", "r")
				p.RunTask.GetObject("overrides").GetArray("containerOverrides")[0].(*jsonv.Object).Set("name", "nope")
				return p
			},
			wantKind: awserr.KindPermanent,
			want:     []string{"InvalidParameterException", "task_run_request"},
		},
		"network refused": {
			plan:     func() *ecsrequest.Plan { return fargatePlan("prefect_pool_perm", "prod", "r") },
			fault:    &awsfake.Fault{Service: "ecs", Action: "RunTask", Code: "InvalidParameterException", Message: "Error retrieving security group information for [sg-123]: The security group 'sg-123' does not exist"},
			wantKind: awserr.KindPermanent,
			want:     []string{"network configuration was refused", "security groups"},
		},
		"access denied": {
			plan:     func() *ecsrequest.Plan { return fargatePlan("prefect_pool_perm", "prod", "r") },
			fault:    &awsfake.Fault{Service: "ecs", Action: "RunTask", Code: "AccessDeniedException", Message: "User: arn:aws:iam::123456789012:user/u is not authorized to perform: ecs:RunTask on resource: arn:aws:ecs:us-east-1:123456789012:task-definition/prefect_pool_perm:1"},
			wantKind: awserr.KindUnavailable,
			want:     []string{"Grant the worker's AWS identity ecs:RunTask", "prefect_pool_perm:1", "aws-policy"},
		},
		"pass role denied": {
			plan:     func() *ecsrequest.Plan { return fargatePlan("prefect_pool_perm", "prod", "r") },
			fault:    &awsfake.Fault{Service: "ecs", Action: "RunTask", Code: "AccessDeniedException", Message: "User: arn:aws:iam::123456789012:user/u is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/exec"},
			wantKind: awserr.KindUnavailable,
			want:     []string{"iam:PassRole", "ecs-tasks.amazonaws.com"},
		},
		"unknown operation": {
			plan:     func() *ecsrequest.Plan { return fargatePlan("prefect_pool_perm", "prod", "r") },
			fault:    &awsfake.Fault{Service: "ecs", Action: "RunTask", Code: "UnknownOperationException"},
			wantKind: awserr.KindUnavailable,
			want:     []string{"does not implement ecs:RunTask"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := awsclienttest.NewWorld(t, awsclienttest.Options{})
			w.Srv.CreateCluster("prod")
			if tc.fault != nil {
				w.Srv.InjectFault(*tc.fault)
			}
			rec := &awsclienttest.Sleeps{}
			l := newLauncher(w, rec, launch.Options{})
			_, err := l.Launch(context.Background(), tc.plan(), "tok")
			var le *awserr.LaunchError
			if !errors.As(err, &le) {
				t.Fatalf("got %T %v", err, err)
			}
			if le.Kind != tc.wantKind || le.Attempts != 1 {
				t.Errorf("kind %s after %d attempts, want %s after 1", le.Kind, le.Attempts, tc.wantKind)
			}
			for _, s := range tc.want {
				if !strings.Contains(le.Error(), s) {
					t.Errorf("%q lacks %q", le.Error(), s)
				}
			}
			if n := w.Calls("ecs:RunTask"); n != 1 || len(rec.All()) != 0 {
				t.Errorf("%d RunTask calls, %d sleeps; want 1 and 0", n, len(rec.All()))
			}
		})
	}
}

func TestInactiveTaskDefinitionIsRegisteredAgain(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	w.Srv.CreateCluster("prod")
	l := newLauncher(w, nil, launch.Options{})
	plan := fargatePlan("prefect_pool_inactive", "prod", "r1")
	plan.AutoDeregister = true
	first, err := l.Launch(context.Background(), plan, "tok-1")
	if err != nil {
		t.Fatal(err)
	}
	if taskView(t, w, first.TaskARN).Tags[launch.DeregisterTaskDefinitionTag] != "true" {
		t.Error("the launch that registered the task definition must carry the deregistration tag")
	}
	// The observer of the first run (or prune, or a person) deregisters it.
	if _, err := w.Clients.ECS.DeregisterTaskDefinition(context.Background(), &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(first.TaskDefinitionARN)}); err != nil {
		t.Fatal(err)
	}
	second, err := l.Launch(context.Background(), fargatePlan("prefect_pool_inactive", "prod", "r2"), "tok-2")
	if err != nil {
		t.Fatal(err)
	}
	if second.TaskDefinitionARN == first.TaskDefinitionARN || !second.Registered || second.Attempts != 2 {
		t.Errorf("second launch %+v", second)
	}
	if n := w.Calls("ecs:RegisterTaskDefinition"); n != 2 {
		t.Errorf("%d registrations, want 2", n)
	}
	// A task definition the user named is not re-registered.
	userPlan := fargatePlan("prefect_pool_inactive", "prod", "r3")
	userPlan.TaskDefinition, userPlan.TaskDefinitionARN = nil, first.TaskDefinitionARN
	userPlan.RunTask.Set("taskDefinition", first.TaskDefinitionARN)
	_, err = l.Launch(context.Background(), userPlan, "tok-3")
	if !awserr.IsNotFound(err) || !strings.Contains(fmt.Sprint(err), "remove task_definition_arn") {
		t.Errorf("user's inactive task definition: %v", err)
	}
}

func TestLaunchRefusesIncompletePlans(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	l := newLauncher(w, nil, launch.Options{})
	family := fargatePlan(ecsrequest.MarkFamily, "prod", "r")
	stream := fargatePlan("f", "prod", "r")
	stream.RunTask.Set("startedBy", "x"+ecsrequest.MarkDeploymentID)
	tests := map[string]struct {
		plan  *ecsrequest.Plan
		token string
		want  string
	}{
		"no token":          {fargatePlan("f", "prod", "r"), "", "client token"},
		"token with spaces": {fargatePlan("f", "prod", "r"), "a b", "client token"},
		"unresolved family": {family, "t", "family"},
		"unresolved value":  {stream, "t", "runTask.startedBy"},
		"nil plan":          {nil, "t", "no RunTask"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := l.Launch(context.Background(), tc.plan, tc.token)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
	if n := w.Calls("ecs:RunTask"); n != 0 {
		t.Errorf("%d RunTask calls", n)
	}
}

// TestGoldenPlanLaunches launches what ecsjob renders for the default
// template, as the render golden file records it.
func TestGoldenPlanLaunches(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../ecsjob/testdata/golden/default-no-variables-flow-run.json")
	if err != nil {
		t.Fatal(err)
	}
	golden := awsclienttest.MustObject(t, string(b))
	plan := &ecsrequest.Plan{
		TaskDefinition: golden.GetObject("registerTaskDefinition"),
		RunTask:        golden.GetObject("runTask"),
		Network:        &ecsrequest.NetworkPlan{Infer: true, AssignPublicIP: "ENABLED"},
	}
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	w.Srv.CreateCluster("default")
	got, err := newLauncher(w, nil, launch.Options{}).Launch(context.Background(), plan, launch.ClientToken("0b9e5ad6-6a3e-4c4c-9f43-2f7f8f4a1c11", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Identifier, "arn:aws:ecs:us-east-1:123456789012:cluster/default::arn:aws:ecs:us-east-1:123456789012:task/default/") {
		t.Errorf("identifier %s", got.Identifier)
	}
}

// TestStepToken: step 0 is ClientToken exactly (runs without a fallback
// are unchanged); every later step has a token of its own, valid for ECS.
func TestStepToken(t *testing.T) {
	t.Parallel()
	seen := map[string]int{}
	for _, run := range []string{"0b9e5ad6-6a3e-4c4c-9f43-2f7f8f4a1c11", strings.Repeat("x", 100), "run with spaces"} {
		if got := launch.StepToken(run, "claim-1", 0); got != launch.ClientToken(run, "claim-1") {
			t.Errorf("step 0 token %s, want ClientToken %s", got, launch.ClientToken(run, "claim-1"))
		}
		for k := range 4 {
			tok := launch.StepToken(run, "claim-1", k)
			if tok != launch.StepToken(run, "claim-1", k) {
				t.Errorf("step %d: not deterministic", k)
			}
			if tok == launch.StepToken(run, "claim-2", k) {
				t.Errorf("step %d: same token for two claims", k)
			}
			if len(tok) == 0 || len(tok) > 64 || strings.ContainsFunc(tok, func(r rune) bool { return r < 33 || r > 126 }) {
				t.Errorf("step %d: token %q not allowed by ECS", k, tok)
			}
			if _, dup := seen[tok]; dup {
				t.Errorf("step %d of %q: token reused", k, run)
			}
			seen[tok] = k
		}
	}
}

// TestFallsBackIsNotRetried: a step with a later one returns its capacity
// shortage at once; the last step waits it out as before.
func TestFallsBackIsNotRetried(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{Fake: awsfake.Options{Script: func(awsfake.TaskInfo) awsfake.Outcome {
		return awsfake.Outcome{CapacityFailuresBy: map[string]int{"FARGATE_SPOT": 10, "FARGATE": 1}}
	}}})
	if err := w.Srv.SetClusterCapacityProviders("prod", []string{"FARGATE", "FARGATE_SPOT"}); err != nil {
		t.Fatal(err)
	}
	plan := fargatePlan("prefect_pool_fb", "prod", "r")
	plan.RunTask.Delete("launchType")
	plan.RunTask.Set("capacityProviderStrategy", []any{jsonv.ObjectOf("capacityProvider", "FARGATE_SPOT", "weight", 1)})
	plan.Fallback = []ecsrequest.CapacityStep{{LaunchType: "FARGATE", Kind: ecsrequest.LaunchFargate}}
	rec := &awsclienttest.Sleeps{}
	l := newLauncher(w, rec, launch.Options{CapacityRetries: 5})

	_, err := l.Launch(context.Background(), plan.AtStep(0), launch.StepToken("r", "c", 0))
	var le *awserr.LaunchError
	if !errors.As(err, &le) || le.Kind != awserr.KindCapacity || le.Attempts != 1 || len(rec.All()) != 0 {
		t.Fatalf("step 0 with a later step: %v after %v sleeps, want one capacity failure and no wait", err, rec.All())
	}
	got, err := l.Launch(context.Background(), plan.AtStep(1), launch.StepToken("r", "c", 1))
	if err != nil || got.Attempts != 2 || len(rec.All()) != 1 {
		t.Fatalf("last step: %+v, %v, sleeps %v; want a retry after one shortage", got, err, rec.All())
	}
	if tasks := w.Srv.Tasks(); len(tasks) != 1 || tasks[0].LaunchType != "FARGATE" || tasks[0].CapacityProvider != "" {
		t.Errorf("tasks %+v, want one on-demand Fargate task", tasks)
	}
}

// TestAnsweredIsWhenRunTaskAnswered: Launched.Answered is the launcher's
// clock as the RunTask that started the task answered, after the waits
// for capacity, and equal to the task's createdAt: it ends the run's
// queueing phase, so nothing the caller does afterwards may count.
func TestAnsweredIsWhenRunTaskAnswered(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{Clock: true, Fake: awsfake.Options{Script: func(awsfake.TaskInfo) awsfake.Outcome {
		return awsfake.Outcome{CapacityFailures: 2}
	}}})
	w.Srv.CreateCluster("prod")
	began := w.Clock.Now()
	rec := &awsclienttest.Sleeps{}
	l := newLauncher(w, rec, launch.Options{CapacityRetries: 5})
	got, err := l.Launch(context.Background(), fargatePlan("prefect_pool_answered", "prod", "r"), "tok-answered")
	if err != nil {
		t.Fatal(err)
	}
	var waited time.Duration
	for _, d := range rec.All() {
		waited += d
	}
	if waited == 0 || !got.Answered.Equal(began.Add(waited)) {
		t.Errorf("Answered = %v, want the start %v plus the capacity waits %v", got.Answered, began, waited)
	}
	tasks := w.Srv.Tasks()
	if len(tasks) != 1 || !tasks[0].CreatedAt.Equal(got.Answered) {
		t.Errorf("Answered %v, tasks %+v: want one task created at that instant", got.Answered, tasks)
	}
}
