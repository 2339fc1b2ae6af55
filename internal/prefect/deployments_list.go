package prefect

import (
	"context"
	"net/http"
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
	WorkPools *workPoolCriteria `json:"work_pools,omitempty"`
	// Sort keeps pages stable while deployments are created in between.
	Sort   string `json:"sort"`
	Limit  int    `json:"limit"`
	Offset int    `json:"offset"`
}

// ListDeployments returns the deployments that match f, by name
// (POST /deployments/filter).
func (c *Client) ListDeployments(ctx context.Context, f DeploymentFilter) ([]Deployment, error) {
	var pools *workPoolCriteria
	if len(f.WorkPools) > 0 {
		pools = &workPoolCriteria{Name: anyOfOrNil(f.WorkPools)}
	}
	return paginate(ctx, f.Limit, f.Offset, func(ctx context.Context, limit, offset int) ([]Deployment, error) {
		cl := call{op: "list deployments", method: http.MethodPost, path: "/deployments/filter",
			body: deploymentFilterBody{WorkPools: pools, Sort: "NAME_ASC", Limit: limit, Offset: offset}}
		resp, err := c.do(ctx, cl)
		if err != nil {
			return nil, err
		}
		return decodeList[Deployment](c, cl, resp)
	})
}
