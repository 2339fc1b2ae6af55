package prefect

import (
	"context"
	"fmt"
	"net/http"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// Deployment is a deployment as the API returns it (DeploymentResponse).
type Deployment struct {
	ID                     string        `json:"id"`
	Name                   string        `json:"name"`
	FlowID                 string        `json:"flow_id"`
	Version                string        `json:"version"`
	Description            string        `json:"description"`
	Paused                 bool          `json:"paused"`
	JobVariables           *jsonv.Object `json:"job_variables"`
	Parameters             *jsonv.Object `json:"parameters"`
	Tags                   []string      `json:"tags"`
	Labels                 *jsonv.Object `json:"labels"`
	WorkPoolName           string        `json:"work_pool_name"`
	WorkQueueName          string        `json:"work_queue_name"`
	WorkQueueID            string        `json:"work_queue_id"`
	Entrypoint             string        `json:"entrypoint"`
	Path                   string        `json:"path"`
	PullSteps              []any         `json:"-"`
	ConcurrencyLimit       *int          `json:"concurrency_limit"`
	Status                 string        `json:"status"`
	EnforceParameterSchema bool          `json:"enforce_parameter_schema"`
	Created                Time          `json:"created"`
	Updated                Time          `json:"updated"`
	// Raw is the whole response object as the server wrote it.
	Raw *jsonv.Object `json:"-"`
}

func (d *Deployment) setRaw(o *jsonv.Object) {
	d.Raw = o
	// Kept as jsonv values: pull steps are rendered like templates.
	d.PullSteps = o.GetArray("pull_steps")
}

// DeploymentCreate is the body of POST /deployments/ (which creates the
// deployment, or updates the one of the same flow and name). Zero fields
// are not sent.
type DeploymentCreate struct {
	Name                   string        `json:"name"`
	FlowID                 string        `json:"flow_id"`
	WorkPoolName           string        `json:"work_pool_name,omitempty"`
	WorkQueueName          string        `json:"work_queue_name,omitempty"`
	JobVariables           *jsonv.Object `json:"job_variables,omitempty"`
	Parameters             *jsonv.Object `json:"parameters,omitempty"`
	ParameterOpenAPISchema *jsonv.Object `json:"parameter_openapi_schema,omitempty"`
	EnforceParameterSchema *bool         `json:"enforce_parameter_schema,omitempty"`
	Tags                   []string      `json:"tags,omitempty"`
	Labels                 *jsonv.Object `json:"labels,omitempty"`
	Description            string        `json:"description,omitempty"`
	Version                string        `json:"version,omitempty"`
	Entrypoint             string        `json:"entrypoint,omitempty"`
	Path                   string        `json:"path,omitempty"`
	PullSteps              []any         `json:"pull_steps,omitempty"`
	Paused                 bool          `json:"paused,omitempty"`
	ConcurrencyLimit       *int          `json:"concurrency_limit,omitempty"`
}

// ReadDeployment reads a deployment by id.
func (c *Client) ReadDeployment(ctx context.Context, id string) (*Deployment, error) {
	cl := call{op: "read deployment " + id, method: http.MethodGet, path: "/deployments/" + esc(id)}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeOne[Deployment](c, cl, resp)
}

// ReadDeploymentByName reads a deployment by its flow's name and its own
// name, the "flow/deployment" form users type.
func (c *Client) ReadDeploymentByName(ctx context.Context, flowName, deploymentName string) (*Deployment, error) {
	cl := call{op: fmt.Sprintf("read deployment %q", flowName+"/"+deploymentName), method: http.MethodGet,
		path: "/deployments/name/" + esc(flowName) + "/" + esc(deploymentName)}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeOne[Deployment](c, cl, resp)
}

// CreateDeployment creates or updates a deployment.
func (c *Client) CreateDeployment(ctx context.Context, d DeploymentCreate) (*Deployment, error) {
	cl := call{op: fmt.Sprintf("create deployment %q", d.Name), method: http.MethodPost, path: "/deployments/", body: d}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeOne[Deployment](c, cl, resp)
}

// DeleteDeployment deletes a deployment.
func (c *Client) DeleteDeployment(ctx context.Context, id string) error {
	_, err := c.do(ctx, call{op: "delete deployment " + id, method: http.MethodDelete, path: "/deployments/" + esc(id)})
	return err
}

// Flow is a flow as the API returns it.
type Flow struct {
	ID      string        `json:"id"`
	Name    string        `json:"name"`
	Tags    []string      `json:"tags"`
	Labels  *jsonv.Object `json:"labels"`
	Created Time          `json:"created"`
	Updated Time          `json:"updated"`
	Raw     *jsonv.Object `json:"-"`
}

func (f *Flow) setRaw(o *jsonv.Object) { f.Raw = o }

// FlowCreate is the body of POST /flows/ (which returns the existing flow
// of that name, if any).
type FlowCreate struct {
	Name   string        `json:"name"`
	Tags   []string      `json:"tags,omitempty"`
	Labels *jsonv.Object `json:"labels,omitempty"`
}

// ReadFlow reads a flow by id.
func (c *Client) ReadFlow(ctx context.Context, id string) (*Flow, error) {
	cl := call{op: "read flow " + id, method: http.MethodGet, path: "/flows/" + esc(id)}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeOne[Flow](c, cl, resp)
}

// CreateFlow creates a flow, or returns the one of that name.
func (c *Client) CreateFlow(ctx context.Context, f FlowCreate) (*Flow, error) {
	cl := call{op: fmt.Sprintf("create flow %q", f.Name), method: http.MethodPost, path: "/flows/", body: f}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeOne[Flow](c, cl, resp)
}
