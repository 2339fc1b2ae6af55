package submission_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/submission"
)

// chainPlan is a Fargate-ready plan for a run, launching first on step0
// (a launch type or a provider) and then on the fallback steps.
func chainPlan(step0 string, fallback ...ecsrequest.CapacityStep) *ecsrequest.Plan {
	rt := jsonv.ObjectOf(
		"cluster", "prod",
		"taskDefinition", ecsrequest.MarkTaskDefinitionARN,
		"tags", []any{jsonv.ObjectOf("key", "prefect.io/flow-run-id", "value", testRunID)},
		"networkConfiguration", jsonv.ObjectOf("awsvpcConfiguration", jsonv.ObjectOf("subnets", []any{ecsrequest.MarkSubnets})),
	)
	kind := ecsrequest.LaunchFargate
	switch step0 {
	case "FARGATE":
		rt.Set("launchType", step0)
	default:
		rt.Set("capacityProviderStrategy", []any{jsonv.ObjectOf("capacityProvider", step0, "weight", 1)})
		if step0 != "FARGATE_SPOT" {
			kind = ecsrequest.LaunchEC2
		}
	}
	return &ecsrequest.Plan{
		TaskDefinition: jsonv.ObjectOf(
			"containerDefinitions", []any{jsonv.ObjectOf("name", "prefect", "image", "prefecthq/prefect:3-latest")},
			"family", "prefect_pool_fb", "cpu", "256", "memory", "512",
			"requiresCompatibilities", []any{"FARGATE"}, "networkMode", "awsvpc"),
		RunTask: rt, Launch: kind, ContainerName: "prefect", Cluster: "prod",
		Network:  &ecsrequest.NetworkPlan{Infer: true},
		Fallback: fallback,
	}
}

var (
	fargateStep = ecsrequest.CapacityStep{LaunchType: "FARGATE", Kind: ecsrequest.LaunchFargate}
	spotStep    = ecsrequest.CapacityStep{Strategy: []any{jsonv.ObjectOf("capacityProvider", "FARGATE_SPOT", "weight", 1)}, Kind: ecsrequest.LaunchFargate}
	ec2Step     = ecsrequest.CapacityStep{LaunchType: "EC2", Kind: ecsrequest.LaunchEC2}
)

// TestLaunchFallsBack runs each chain against the AWS test server with
// shortages scripted per capacity, with the real launcher.
func TestLaunchFallsBack(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		plan      *ecsrequest.Plan
		short     map[string]int // capacity failures by capacity
		from      int            // the step a resumed launch starts from
		wantStep  int            // -1: no task
		wantCap   string
		wantSteps []int    // the steps RunTask was called for, in order
		wantLogs  []string // FellBack's messages
		wantErr   []string
	}{
		"spot has room": {
			plan: chainPlan("FARGATE_SPOT", fargateStep), wantStep: 0, wantCap: "FARGATE_SPOT", wantSteps: []int{0},
		},
		"spot to Fargate": {
			plan: chainPlan("FARGATE_SPOT", fargateStep), short: map[string]int{"FARGATE_SPOT": 99},
			wantStep: 1, wantCap: "FARGATE", wantSteps: []int{0, 1},
			wantLogs: []string{"No Fargate Spot capacity: falling back to FARGATE (step 2 of 2)"},
		},
		"EC2 provider to Fargate": {
			plan: chainPlan("my-asg", fargateStep), short: map[string]int{"my-asg": 99},
			wantStep: 1, wantCap: "FARGATE", wantSteps: []int{0, 1},
			wantLogs: []string{"No my-asg capacity: falling back to FARGATE (step 2 of 2)"},
		},
		"Fargate to Spot to EC2, the last step retried": {
			plan: chainPlan("FARGATE", spotStep, ec2Step), short: map[string]int{"FARGATE": 99, "FARGATE_SPOT": 99, "EC2": 2},
			wantStep: 2, wantCap: "EC2", wantSteps: []int{0, 1, 2, 2, 2},
			wantLogs: []string{"No Fargate capacity: falling back to FARGATE_SPOT (step 2 of 3)", "No Fargate Spot capacity: falling back to EC2 (step 3 of 3)"},
		},
		"chain exhausted": {
			plan: chainPlan("FARGATE_SPOT", fargateStep), short: map[string]int{"FARGATE_SPOT": 99, "FARGATE": 99},
			wantStep: -1, wantSteps: []int{0, 1, 1, 1, 1},
			wantLogs: []string{"No Fargate Spot capacity: falling back to FARGATE (step 2 of 2)"},
			wantErr:  []string{"no capacity on any step of capacity_fallback (tried FARGATE_SPOT, then FARGATE)", "Capacity is unavailable"},
		},
		"resumed at step 1 never goes back to step 0": {
			plan: chainPlan("FARGATE_SPOT", fargateStep), from: 1,
			wantStep: 1, wantCap: "FARGATE", wantSteps: []int{1},
		},
		"resumed past the chain's end": {
			plan: chainPlan("FARGATE_SPOT", fargateStep), from: 2,
			wantStep: -1, wantErr: []string{"capacity step 2", "earlier step"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := awsclienttest.NewWorld(t, awsclienttest.Options{Fake: awsfake.Options{Script: func(awsfake.TaskInfo) awsfake.Outcome {
				return awsfake.Outcome{CapacityFailuresBy: tt.short}
			}}})
			w.Srv.AddCapacityProvider("my-asg")
			if err := w.Srv.SetClusterCapacityProviders("prod", []string{"FARGATE", "FARGATE_SPOT", "my-asg"}); err != nil {
				t.Fatal(err)
			}
			w.Srv.AddContainerInstances("prod", 1, 4096, 8192)
			l := &recordingLauncher{l: launch.NewLauncher(w.Clients, nil, launch.Options{CapacityRetries: 3, Sleep: w.Sleep(&awsclienttest.Sleeps{})})}
			api := &fakePrefect{}
			c := claimed()
			c.Step = tt.from
			var logs []string
			c.FellBack = func(from, to int, steps []ecsrequest.CapacityStep, _ error) {
				if to != from+1 {
					t.Errorf("fell back from %d to %d", from, to)
				}
				logs = append(logs, submission.FallbackMessage(steps, to))
			}
			got, err := submission.Launch(context.Background(), api, l, c, tt.plan)

			if tt.wantStep < 0 {
				if err == nil {
					t.Fatalf("launched %+v, want an error", got)
				}
				if submission.KindOf(err) != submission.Crash {
					t.Errorf("kind %v, want crash", submission.KindOf(err))
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if got.Step != tt.wantStep || got.Capacity != tt.wantCap {
					t.Errorf("launched on step %d (%s), want %d (%s)", got.Step, got.Capacity, tt.wantStep, tt.wantCap)
				}
				tasks := w.Srv.Tasks()
				if len(tasks) != 1 {
					t.Fatalf("%d tasks, want 1", len(tasks))
				}
				if capacity := cmp(tasks[0].CapacityProvider, tasks[0].LaunchType); capacity != tt.wantCap {
					t.Errorf("the task runs on %s, want %s", capacity, tt.wantCap)
				}
				if last := api.labels[len(api.labels)-1]; last[submission.CapacityLabel] != tt.wantCap {
					t.Errorf("last labels %v, want the capacity recorded", last)
				}
			}
			// The RunTask calls, by the step their token belongs to.
			var steps []int
			for _, tok := range l.tokens {
				steps = append(steps, stepOfToken(t, tok))
			}
			if fmt.Sprint(steps) != fmt.Sprint(tt.wantSteps) {
				t.Errorf("RunTask for steps %v, want %v", steps, tt.wantSteps)
			}
			if fmt.Sprint(logs) != fmt.Sprint(tt.wantLogs) {
				t.Errorf("logs %q, want %q", logs, tt.wantLogs)
			}
			// Each step is on record before its RunTask.
			recorded := -1
			for _, labels := range api.labels {
				if v, ok := labels[submission.CapacityStepLabel]; ok {
					recorded = v.(int)
				}
			}
			if len(steps) > 0 && recorded != steps[len(steps)-1] {
				t.Errorf("step label %d, want %d", recorded, steps[len(steps)-1])
			}
			if len(api.labels) > 0 && api.labels[0][submission.ClaimLabel] != c.ClaimID {
				t.Errorf("first labels %v lack the claim", api.labels[0])
			}
		})
	}
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// stepOfToken finds the capacity step a client token was derived for.
func stepOfToken(t *testing.T, tok string) int {
	t.Helper()
	for k := range 5 {
		if launch.StepToken(testRunID, claimed().ClaimID, k) == tok {
			return k
		}
	}
	t.Fatalf("token %s is no step's", tok)
	return -1
}

// recordingLauncher records the tokens of every RunTask a real launcher
// makes, by wrapping each plan's launch.
type recordingLauncher struct {
	l      *launch.Launcher
	tokens []string
}

func (r *recordingLauncher) Launch(ctx context.Context, plan *ecsrequest.Plan, token string) (*launch.Launched, error) {
	got, err := r.l.Launch(ctx, plan, token)
	n := 1
	if got != nil {
		n = got.Attempts
	}
	if le := (*awserr.LaunchError)(nil); errors.As(err, &le) && le.Attempts > 0 {
		n = le.Attempts
	}
	for range n {
		r.tokens = append(r.tokens, token)
	}
	return got, err
}

// TestLaunchWithoutFallbackIsUnchanged: no capacity-step label, and the
// claim's token as before.
func TestLaunchWithoutFallbackIsUnchanged(t *testing.T) {
	t.Parallel()
	api := &fakePrefect{}
	l := &fakeLauncher{launched: &launch.Launched{TaskARN: "arn:aws:ecs:us-east-1:123456789012:task/prod/abc"}}
	if _, err := submission.Launch(context.Background(), api, l, claimed(), chainPlan("FARGATE")); err != nil {
		t.Fatal(err)
	}
	if len(api.labels) != 1 || slices.Contains(mapsKeys(api.labels[0]), submission.CapacityStepLabel) {
		t.Errorf("labels %v, want the claim labels alone", api.labels)
	}
	if l.tokens[0] != launch.ClientToken(testRunID, claimed().ClaimID) || l.plans[0].FallsBack {
		t.Errorf("token %s, plan falls back %t", l.tokens[0], l.plans[0].FallsBack)
	}
}

func mapsKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
