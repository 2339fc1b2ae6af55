package prefect_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
)

// TestIntegrationListDeployments runs ListDeployments against the test
// server, which serves POST /deployments/filter and checks each request
// and response against Prefect's OpenAPI schema.
func TestIntegrationListDeployments(t *testing.T) {
	t.Parallel()
	e := start(t, prefectfake.Options{}, prefectconfig.Config{})
	ctx := context.Background()
	e.srv.CreateWorkPool("ecs-pool", "ecs", nil)
	e.srv.CreateWorkPool("other", "ecs", nil)
	etl := e.srv.CreateFlow("etl")["id"].(string)
	// More than one page of 200 in the pool, created out of name order.
	var inPool []string
	for i := 249; i >= 0; i-- {
		name := fmt.Sprintf("d%03d", i)
		e.srv.CreateDeployment(etl, name, "ecs-pool", "", nil)
		inPool = append(inPool, name)
	}
	slices.Sort(inPool)
	for _, name := range []string{"o1", "o2", "o3"} {
		e.srv.CreateDeployment(etl, name, "other", "", nil)
	}

	tests := map[string]struct {
		f         prefectdeploy.DeploymentFilter
		want      []string
		wantCalls int
	}{
		"a pool, two pages": {f: prefectdeploy.DeploymentFilter{WorkPools: []string{"ecs-pool"}}, want: inPool, wantCalls: 2},
		"a pool, offset":    {f: prefectdeploy.DeploymentFilter{WorkPools: []string{"ecs-pool"}, Limit: 5, Offset: 248}, want: []string{"d248", "d249"}, wantCalls: 1},
		"two pools":         {f: prefectdeploy.DeploymentFilter{WorkPools: []string{"other", "ecs-pool"}, Limit: 3, Offset: 249}, want: []string{"d249", "o1", "o2"}, wantCalls: 1},
		"all, limited":      {f: prefectdeploy.DeploymentFilter{Limit: 2}, want: []string{"d000", "d001"}, wantCalls: 1},
		"all":               {want: append(slices.Clone(inPool), "o1", "o2", "o3"), wantCalls: 2},
		"unknown pool":      {f: prefectdeploy.DeploymentFilter{WorkPools: []string{"nope"}}, wantCalls: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Not parallel: the subtests count calls on one server.
			before := e.srv.Calls()["POST /deployments/filter"]
			list, err := e.client.ListDeployments(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, d := range list {
				names = append(names, d.Name)
				if d.ID == "" || d.FlowID != etl || d.WorkPoolName == "" || d.WorkQueueName != "default" || d.Raw.GetString("name") != d.Name {
					t.Errorf("deployment %+v", d)
				}
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("%d deployments %q, want %d %q", len(names), names, len(tc.want), tc.want)
			}
			if got := e.srv.Calls()["POST /deployments/filter"] - before; got != tc.wantCalls {
				t.Errorf("%d requests, want %d", got, tc.wantCalls)
			}
		})
	}
}
