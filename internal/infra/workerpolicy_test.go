package infra_test

import (
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/ecsworker/ecsworker/internal/cfnstack"
	"github.com/ecsworker/ecsworker/internal/iampolicy"
	"github.com/ecsworker/ecsworker/internal/infra"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/jsonv/jsonvtest"
)

// TestWorkerRoleIsGenerated pins that the service stack's worker role
// carries exactly the policy iampolicy generates, and nothing else that
// grants the worker permissions (a managed policy would add to it).
func TestWorkerRoleIsGenerated(t *testing.T) {
	t.Parallel()
	tmpl, err := infra.Render(cfnstack.KindService, testImage)
	if err != nil {
		t.Fatal(err)
	}
	props := tmpl.GetObject("Resources").GetObject("WorkerTaskRole").GetObject("Properties")
	if props.Has("ManagedPolicyArns") {
		t.Errorf("the worker role has managed policies besides the generated one: %v", props.GetArray("ManagedPolicyArns"))
	}
	policies := props.GetArray("Policies")
	if len(policies) != 1 {
		t.Fatalf("the worker role has %d inline policies, want the generated one", len(policies))
	}
	want, err := infra.WorkerPolicy()
	if err != nil {
		t.Fatal(err)
	}
	got := policies[0].(*jsonv.Object).GetObject("PolicyDocument")
	if !jsonv.Equal(got, want.Document()) {
		t.Errorf("the worker role's policy is not iampolicy's:\n%s\nwant\n%s", got, want.Document())
	}
	for _, a := range want.Actions() {
		if e, ok := iampolicy.Lookup(a); !ok || !e.Worker {
			t.Errorf("%s is not a worker action of the catalog", a)
		}
	}
	// What the worker used to be allowed besides the generated policy,
	// through the events stack's managed policy, and never calls.
	for _, a := range []string{"sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"} {
		if slices.Contains(want.Actions(), a) {
			t.Errorf("%s is allowed but the worker does not call it", a)
		}
	}
}

// TestWorkerRoleResolves deploys the service stack on the AWS test server
// with and without a flow-run task role, and checks the worker role's
// policy as CloudFormation resolves it.
func TestWorkerRoleResolves(t *testing.T) {
	t.Parallel()
	for _, taskRole := range []string{"", "arn:aws:iam::123456789012:role/etl"} {
		t.Run("task role "+taskRole, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s, c := fakeAWS(t)
				cfg := serviceConfig(s, "etl pool")
				cfg.FlowRunTaskRoleArn = taskRole
				v := deployService(t, s, c, cfg)
				role, _ := v.Resource("WorkerTaskRole")
				doc := role.Properties.(map[string]any)["Policies"].([]any)[0].(map[string]any)["PolicyDocument"].(map[string]any)
				bySid := map[string]map[string]any{}
				for _, st := range doc["Statement"].([]any) {
					m := st.(map[string]any)
					bySid[m["Sid"].(string)] = m
				}
				passed := jsonvtest.Strings(bySid["PassOnlyTheFlowRunRoles"]["Resource"])
				wantPassed := 1
				if taskRole != "" {
					wantPassed = 2
					if !slices.Contains(passed, taskRole) {
						t.Errorf("the task role is not passed: %v", passed)
					}
				}
				if len(passed) != wantPassed {
					t.Errorf("PassRole on %v, want %d roles", passed, wantPassed)
				}
				run := bySid["RunTaskDefinitionsOnTheCluster"]
				if run["Resource"] != "arn:aws:ecs:us-east-1:"+accountOf(cfg.ClusterArn)+":task-definition/prefect_etl-pool_*:*" {
					t.Errorf("RunTask on %v", run["Resource"])
				}
				if got := run["Condition"].(map[string]any)["ArnEquals"].(map[string]any)["ecs:cluster"]; got != cfg.ClusterArn {
					t.Errorf("RunTask on cluster %v, want %s", got, cfg.ClusterArn)
				}
				tasks := bySid["FollowAndStopTasksOnTheClusters"]["Resource"].(string)
				if !strings.HasSuffix(tasks, ":task/prod/*") {
					t.Errorf("DescribeTasks/StopTask on %s", tasks)
				}
				queue := bySid["ConsumeTaskStateChanges"]["Resource"].(string)
				if !strings.HasPrefix(queue, "arn:aws:sqs:us-east-1:") {
					t.Errorf("the events queue resolves to %q", queue)
				}
			})
		})
	}
}

func accountOf(arn string) string { return strings.Split(arn, ":")[4] }
