package sandbox

import (
	"fmt"
	"strings"
	"time"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// Scenario is one kind of demo flow run: what the simulated ECS does with
// its task and how the run must end for the sandbox to call it a success.
type Scenario struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Expect is the Prefect state type the run must end in.
	Expect string `json:"expected_state"`
	// Diagnosis must appear (case-insensitively) in the message of the
	// run's final state: it is what the worker tells the user.
	Diagnosis string `json:"expected_diagnosis,omitempty"`
	// MinRunTaskAttempts is the fewest RunTask calls the run must need:
	// more than one proves that the worker retried.
	MinRunTaskAttempts int `json:"min_run_task_attempts,omitempty"`
	// Capacity, when set, is the capacity the run must have ended up on
	// (the worker's ecsworker.capacity label on the flow run).
	Capacity string `json:"expected_capacity,omitempty"`
	// SlowPhase, when set, is the phase of the task's start (provisioning,
	// image_pull or container_start) that the worker's start breakdown
	// must show as the longest.
	SlowPhase string `json:"slow_phase,omitempty"`

	// tag is the image tag the AWS script recognises: the task's image is
	// all the simulated ECS sees of a flow run.
	tag     string
	outcome func(scale func(time.Duration) time.Duration) awsfake.Outcome
	// vars are the flow run's job variables besides the image; cycle
	// counts the runs of this scenario from 1.
	vars func(cycle int) map[string]any
	// cancelAfter is how long after its task was created a person cancels
	// the run from Prefect; 0 never.
	cancelAfter time.Duration
}

// capacityFailures is how many RunTask calls of the capacity scenario the
// simulated ECS refuses before it finds room.
const capacityFailures = 2

// scenarios holds one entry per outcome the demo shows, in display order.
// Durations are at speed 1 and chosen so that the whole demo takes about
// half a minute: long enough to watch, short enough to wait for.
var scenarios = []Scenario{
	{
		Name: "success", Description: "the flow runs and exits 0",
		Expect: "COMPLETED", tag: "success",
		outcome: func(s func(time.Duration) time.Duration) awsfake.Outcome {
			return awsfake.Outcome{TimeToRunning: s(3 * time.Second), RunFor: s(8 * time.Second)}
		},
	},
	{
		Name: "slow-image-pull", Description: "a large image: most of the task's start is the image pull, and the worker says so",
		Expect: "COMPLETED", tag: "large-image", SlowPhase: "image_pull",
		outcome: func(s func(time.Duration) time.Duration) awsfake.Outcome {
			return awsfake.Outcome{ProvisionFor: s(time.Second), PullFor: s(6 * time.Second), StartFor: s(500 * time.Millisecond), RunFor: s(4 * time.Second)}
		},
	},
	{
		Name: "out-of-memory", Description: "the container exceeds its memory and is killed (exit 137)",
		Expect: "CRASHED", Diagnosis: "out of memory", tag: "oom",
		outcome: func(s func(time.Duration) time.Duration) awsfake.Outcome {
			return awsfake.Outcome{TimeToRunning: s(3 * time.Second), RunFor: s(6 * time.Second), OOM: true}
		},
	},
	{
		Name: "image-pull-failure", Description: "the image tag does not exist; the task never starts",
		Expect: "CRASHED", Diagnosis: "image pull failed", tag: "no-such-tag",
		outcome: func(s func(time.Duration) time.Duration) awsfake.Outcome {
			return awsfake.Outcome{TimeToRunning: s(4 * time.Second), NeverStarts: true}
		},
	},
	{
		Name:        "capacity-retry",
		Description: fmt.Sprintf("the EC2 cluster is out of memory for the first %d RunTask calls; the worker retries", capacityFailures),
		Expect:      "COMPLETED", MinRunTaskAttempts: capacityFailures + 1, tag: "capacity",
		outcome: func(s func(time.Duration) time.Duration) awsfake.Outcome {
			return awsfake.Outcome{TimeToRunning: s(3 * time.Second), RunFor: s(6 * time.Second), CapacityFailures: capacityFailures}
		},
		// EC2 (bridge networking) because that is where "out of capacity"
		// is an everyday event. The simulated ECS counts capacity failures
		// per task definition family, so each run gets its own family to
		// be refused afresh.
		vars: func(cycle int) map[string]any {
			return map[string]any{"launch_type": "EC2", "family": fmt.Sprintf("sandbox-capacity-%d", cycle)}
		},
	},
	{
		Name:        "spot-shortage-fallback",
		Description: "Fargate Spot has no capacity; the run falls back to on-demand Fargate (capacity_fallback) and completes",
		Expect:      "COMPLETED", MinRunTaskAttempts: 2, Capacity: "FARGATE", tag: "spot-shortage",
		outcome: func(s func(time.Duration) time.Duration) awsfake.Outcome {
			// Spot stays short for the whole demo; on-demand has room.
			return awsfake.Outcome{TimeToRunning: s(3 * time.Second), RunFor: s(6 * time.Second), CapacityFailuresBy: map[string]int{"FARGATE_SPOT": 1 << 20}}
		},
		vars: func(int) map[string]any {
			return map[string]any{
				"launch_type":       "FARGATE_SPOT",
				"capacity_fallback": []any{map[string]any{"launch_type": "FARGATE"}},
			}
		},
	},
	{
		Name: "cancel-before-start", Description: "cancelled in Prefect while ECS is still provisioning the task",
		Expect: "CANCELLED", tag: "slow-start", cancelAfter: 1500 * time.Millisecond,
		outcome: func(s func(time.Duration) time.Duration) awsfake.Outcome {
			return awsfake.Outcome{TimeToRunning: s(60 * time.Second), RunFor: s(8 * time.Second)}
		},
	},
	{
		Name: "spot-interruption", Description: "Fargate Spot takes the capacity back while the flow runs",
		Expect: "CRASHED", Diagnosis: "spot", tag: "spot",
		outcome: func(s func(time.Duration) time.Duration) awsfake.Outcome {
			return awsfake.Outcome{TimeToRunning: s(3 * time.Second), RunFor: s(6 * time.Second), SpotInterruption: true}
		},
		vars: func(int) map[string]any { return map[string]any{"launch_type": "FARGATE_SPOT"} },
	},
}

// Scenarios lists the demo scenarios in the order runs cycle through them.
func Scenarios() []Scenario {
	return append([]Scenario(nil), scenarios...)
}

// imageRepo is the repository of every demo image; the tag picks the
// scenario.
const imageRepo = "sandbox/demo-flow"

func (sc *Scenario) image() string { return imageRepo + ":" + sc.tag }

// script decides what the simulated ECS does with a task from its image
// tag, so that runs created by hand against a --keep-running sandbox
// (with "image": "sandbox/demo-flow:oom", say) get the same behaviours;
// any other image runs and exits 0.
func script(scale func(time.Duration) time.Duration) func(awsfake.TaskInfo) awsfake.Outcome {
	return func(ti awsfake.TaskInfo) awsfake.Outcome {
		image := ""
		if c, ok := ti.Container("prefect"); ok {
			image = c.Image
		} else if len(ti.Containers) > 0 {
			image = ti.Containers[0].Image
		}
		return scenarioFor(image).outcome(scale)
	}
}

// scenarioFor is the scenario an image's tag asks for.
func scenarioFor(image string) *Scenario {
	tag := image[strings.LastIndex(image, ":")+1:]
	for i := range scenarios {
		if scenarios[i].tag == tag {
			return &scenarios[i]
		}
	}
	return &scenarios[0]
}
