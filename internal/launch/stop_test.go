package launch_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/diagnosis"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/launch"
)

func TestParseIdentifier(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		id, cluster, task string
		wantErr           bool
	}{
		"name":        {id: "prod::arn:aws:ecs:us-east-1:1:task/prod/abc", cluster: "prod", task: "arn:aws:ecs:us-east-1:1:task/prod/abc"},
		"cluster ARN": {id: "arn:aws:ecs:us-east-1:1:cluster/prod::arn:aws:ecs:us-east-1:1:task/prod/abc", cluster: "arn:aws:ecs:us-east-1:1:cluster/prod", task: "arn:aws:ecs:us-east-1:1:task/prod/abc"},
		"first ::":    {id: "c::a::b", cluster: "c", task: "a::b"},
		"no ::":       {id: "arn:aws:ecs:us-east-1:1:task/prod/abc", wantErr: true},
		"empty task":  {id: "prod::", wantErr: true},
		"empty":       {id: "", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, task, err := launch.ParseIdentifier(tc.id)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "<cluster>::<task ARN>") {
					t.Errorf("got %v", err)
				}
				return
			}
			if err != nil || c != tc.cluster || task != tc.task {
				t.Errorf("got %q %q %v", c, task, err)
			}
		})
	}
}

func TestStopTask(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{Fake: awsfake.Options{Script: func(awsfake.TaskInfo) awsfake.Outcome {
		return awsfake.Outcome{RunsForever: true}
	}}})
	w.Srv.CreateCluster("prod")
	l := newLauncher(w, nil, launch.Options{})
	start := func(id string) *launch.Launched {
		got, err := l.Launch(context.Background(), fargatePlan("prefect_pool_stop", "prod", id), launch.ClientToken(id, "c"))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	running := start("running")
	for w.Srv.AdvanceTask(running.TaskARN) && taskView(t, w, running.TaskARN).LastStatus != "RUNNING" {
	}
	stopped := start("stopped")
	w.Srv.StopTaskExternally(stopped.TaskARN, "UserInitiated", "stopped in the console")
	for w.Srv.AdvanceTask(stopped.TaskARN) {
	}

	tests := map[string]struct {
		id      string
		want    launch.StopOutcome
		wantErr string
	}{
		"running task":    {id: running.Identifier, want: launch.StopRequested},
		"stopped task":    {id: stopped.Identifier, want: launch.StopAlreadyStopped},
		"unknown task":    {id: "prod::arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef0123456789abcdef", want: launch.StopNotFound},
		"unknown cluster": {id: "gone::arn:aws:ecs:us-east-1:123456789012:task/gone/0123456789abcdef0123456789abcdef", want: launch.StopNotFound},
		"bad identifier":  {id: "just-a-task", wantErr: "<cluster>::<task ARN>"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res, err := launch.StopTask(context.Background(), w.Clients.ECS, tc.id, diagnosis.WorkerStopReason)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tc.want {
				t.Errorf("outcome %s (%+v), want %s", res.Outcome, res, tc.want)
			}
		})
	}
	if v := taskView(t, w, running.TaskARN); v.DesiredStatus != "STOPPED" || !strings.Contains(v.StoppedReason, "Stopped by Prefect worker") {
		t.Errorf("running task after StopTask: desired %s, reason %q", v.DesiredStatus, v.StoppedReason)
	}
}
