package prefectdeploy

import (
	"context"

	"github.com/ecsworker/ecsworker/internal/prefectapi"
)

// DeploymentFilter selects deployments for ListDeployments; empty fields
// match all.
type DeploymentFilter struct {
	// WorkPools are the names of the pools whose deployments to list.
	WorkPools []string
	// Limit is the most deployments to return; 0 means all of them,
	// fetched in pages of at most 200, the server's maximum.
	Limit  int
	Offset int
}

type deploymentFilterBody struct {
	WorkPools *prefectapi.WorkPoolCriteria `json:"work_pools,omitempty"`
	// Sort keeps pages stable while deployments are created in between.
	Sort   string `json:"sort"`
	Limit  int    `json:"limit"`
	Offset int    `json:"offset"`
}

// ListDeployments returns the deployments that match f, by name
// (POST /deployments/filter).
func (c Deployments) ListDeployments(ctx context.Context, f DeploymentFilter) ([]Deployment, error) {
	var pools *prefectapi.WorkPoolCriteria
	if len(f.WorkPools) > 0 {
		pools = &prefectapi.WorkPoolCriteria{Name: prefectapi.AnyOfOrNil(f.WorkPools)}
	}
	return prefectapi.FilterAll[Deployment](ctx, c.t, "list deployments", "/deployments/filter", f.Limit, f.Offset, func(limit, offset int) any {
		return deploymentFilterBody{WorkPools: pools, Sort: "NAME_ASC", Limit: limit, Offset: offset}
	})
}
