package taskdef_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/taskdef"
)

type pruneCase struct {
	ours, theirs int
	keep         int
	dryRun       bool
	// defaultBudget runs with the worker's default budget against the
	// server's default (AWS) throttling, which it must never trip; the
	// budget makes calls wait, so the case runs on synctest's clock.
	defaultBudget      bool
	wantKept, wantGone int
}

func TestPrune(t *testing.T) {
	t.Parallel()
	tests := map[string]pruneCase{
		"keeps the newest five by default": {ours: 8, theirs: 2, keep: 0, wantKept: 5, wantGone: 3},
		"keeps N":                          {ours: 8, theirs: 2, keep: 2, wantKept: 2, wantGone: 6},
		"dry run changes nothing":          {ours: 8, theirs: 1, keep: 3, dryRun: true, wantKept: 3, wantGone: 5},
		"fewer than N":                     {ours: 3, theirs: 4, keep: 5, wantKept: 3},
		"under the default budget":         {ours: 8, theirs: 2, keep: 2, defaultBudget: true, wantKept: 2, wantGone: 6},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if tc.defaultBudget {
				synctest.Test(t, func(t *testing.T) { testPrune(t, tc) })
				return
			}
			testPrune(t, tc)
		})
	}
}

func testPrune(t *testing.T, tc pruneCase) {
	o := awsclienttest.Options{Fake: awsfake.Options{DisableThrottling: true}}
	if tc.defaultBudget {
		o = awsclienttest.Options{Budget: awsclient.DefaultBudget(), InProcess: true}
	}
	w := awsclienttest.NewWorld(t, o)
	const family = "prefect_pool_prune"
	tds := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{})
	var ours, theirs []string
	for i := range max(tc.ours, tc.theirs) {
		if i < tc.ours {
			arn, _, err := tds.Ensure(context.Background(), fargateTD(family, fmt.Sprintf("img:%d", i)), taskdef.EnsureOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ours = append(ours, arn)
		}
		if i < tc.theirs {
			theirs = append(theirs, registerUntagged(t, w.Clients.ECS, fargateTD(family, fmt.Sprintf("python:%d", i))))
		}
	}
	slices.Reverse(ours) // newest first
	rep, err := taskdef.Prune(context.Background(), w.Clients.ECS, family, tc.keep, tc.dryRun)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Kept, ours[:tc.wantKept]) || !slices.Equal(rep.Deregistered, ours[tc.wantKept:]) || rep.NotOurs != tc.theirs || rep.DryRun != tc.dryRun {
		t.Errorf("report %+v\nours (newest first) %v", rep, ours)
	}
	status := map[string]string{}
	for _, v := range w.Srv.TaskDefinitions() {
		status[v.Arn] = v.Status
	}
	for i, arn := range ours {
		want := "ACTIVE"
		if i >= tc.wantKept && !tc.dryRun {
			want = "INACTIVE"
		}
		if status[arn] != want {
			t.Errorf("%s is %s, want %s", arn, status[arn], want)
		}
	}
	for _, arn := range theirs {
		if status[arn] != "ACTIVE" {
			t.Errorf("a revision the worker did not make was touched: %s is %s", arn, status[arn])
		}
	}
	wantDeregistered := tc.wantGone
	if tc.dryRun {
		wantDeregistered = 0
	}
	if n := w.Calls("ecs:DeregisterTaskDefinition"); n != wantDeregistered {
		t.Errorf("%d deregistrations", n)
	}
	if tc.defaultBudget {
		if len(w.Srv.Throttled()) > 0 {
			t.Errorf("AWS throttled calls despite the budget: %v", w.Srv.Throttled())
		}
		if w.Budget.Counters()["ecs:DescribeTaskDefinition"].Waits == 0 {
			t.Error("the budget never made a call wait; the case tests nothing")
		}
	}
}

func TestPruneRefusesBadArguments(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	if _, err := taskdef.Prune(context.Background(), w.Clients.ECS, "", 5, true); err == nil {
		t.Error("no family: no error")
	}
	if _, err := taskdef.Prune(context.Background(), w.Clients.ECS, "f", -1, true); err == nil {
		t.Error("negative keep: no error")
	}
}
