package launch_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/launch"
)

// Without ecs:TagResource, tasks start untagged (with a warning) instead of
// not at all, and the next launch does not ask again.
func TestLaunchWithoutTagResource(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	w.Srv.CreateCluster("prod")
	w.AllowAllBut(t, "ecs:TagResource")
	l := newLauncher(w, nil, launch.Options{})
	for i, run := range []string{"run-1", "run-2"} {
		got, err := l.Launch(context.Background(), fargatePlan("prefect_pool_tags", "prod", run), launch.ClientToken(run, "c"))
		if err != nil {
			t.Fatalf("launch %d: %v", i+1, err)
		}
		if !strings.Contains(strings.Join(got.Warnings, "\n"), "without tags") {
			t.Errorf("launch %d: warnings %v, want one about the missing tags", i+1, got.Warnings)
		}
	}
	if n := w.Srv.Denied()["ecs:RunTask"]; n != 1 {
		t.Errorf("RunTask refused %d times for its tags, want once", n)
	}
	if n := w.Srv.Denied()["ecs:RegisterTaskDefinition"]; n != 1 {
		t.Errorf("RegisterTaskDefinition refused %d times for its tags, want once", n)
	}
	for _, task := range w.Srv.Tasks() {
		if len(task.Tags) != 0 {
			t.Errorf("task %s has tags %v", task.Arn, task.Tags)
		}
	}
}

// Without the EC2 permissions, named subnets reach RunTask unchecked, and
// subnets to infer fail with what to set, EC2 being asked only once.
func TestNetworkWithoutEC2(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	w.Srv.CreateCluster("prod")
	_, subnets, _ := w.Srv.DefaultNetwork()
	w.AllowAllBut(t, "ec2:*")
	l := newLauncher(w, nil, launch.Options{})
	for i, run := range []string{"run-1", "run-2"} {
		_, err := l.Launch(context.Background(), fargatePlan("prefect_pool_net", "prod", run), launch.ClientToken(run, "c"))
		if !awserr.IsUnavailable(err) || !strings.Contains(err.Error(), "subnets job variable") {
			t.Errorf("launch %d inferring subnets: %v, want an unavailable action naming the subnets job variable", i+1, err)
		}
	}
	if n := w.Srv.Denied()["ec2:DescribeVpcs"]; n != 1 {
		t.Errorf("DescribeVpcs refused %d times, want once", n)
	}
	plan := fargatePlan("prefect_pool_net", "prod", "run-3")
	plan.RunTask.GetObject("networkConfiguration").GetObject("awsvpcConfiguration").Set("subnets", []any{subnets[0]})
	plan.Network = &ecsrequest.NetworkPlan{VPCID: "vpc-any", CheckSubnets: []string{subnets[0]}}
	if _, err := l.Launch(context.Background(), plan, launch.ClientToken("run-3", "c")); err != nil {
		t.Errorf("named subnets without ec2:DescribeSubnets: %v", err)
	}
}
