// Package prefectdeploy holds the Prefect API's deployments and flows, and
// the block documents and variables that their job templates refer to.
package prefectdeploy

import (
	"context"
	"fmt"
	"net/http"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
)

// Deployments are the calls on deployments, flows, block documents and
// variables; prefect.Client embeds them.
type Deployments struct{ t *prefectapi.Transport }

// New returns the calls on deployments made through t.
func New(t *prefectapi.Transport) Deployments { return Deployments{t: t} }

// Deployment is a deployment as the API returns it (DeploymentResponse).
type Deployment struct {
	ID                     string          `json:"id"`
	Name                   string          `json:"name"`
	FlowID                 string          `json:"flow_id"`
	Version                string          `json:"version"`
	Description            string          `json:"description"`
	Paused                 bool            `json:"paused"`
	JobVariables           *jsonv.Object   `json:"job_variables"`
	Parameters             *jsonv.Object   `json:"parameters"`
	Tags                   []string        `json:"tags"`
	Labels                 *jsonv.Object   `json:"labels"`
	WorkPoolName           string          `json:"work_pool_name"`
	WorkQueueName          string          `json:"work_queue_name"`
	WorkQueueID            string          `json:"work_queue_id"`
	Entrypoint             string          `json:"entrypoint"`
	Path                   string          `json:"path"`
	PullSteps              []any           `json:"-"`
	ConcurrencyLimit       *int            `json:"concurrency_limit"`
	Status                 string          `json:"status"`
	EnforceParameterSchema bool            `json:"enforce_parameter_schema"`
	Created                prefectapi.Time `json:"created"`
	Updated                prefectapi.Time `json:"updated"`
	// Raw is the whole response object as the server wrote it.
	Raw *jsonv.Object `json:"-"`
}

// SetRaw keeps the response object as the server wrote it.
func (d *Deployment) SetRaw(o *jsonv.Object) {
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
func (c Deployments) ReadDeployment(ctx context.Context, id string) (*Deployment, error) {
	cl := prefectapi.Call{Op: "read deployment " + id, Method: http.MethodGet, Path: "/deployments/" + prefectapi.Esc(id)}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return prefectapi.DecodeOne[Deployment](c.t, cl, resp)
}

// ReadDeploymentByName reads a deployment by its flow's name and its own
// name, the "flow/deployment" form users type.
func (c Deployments) ReadDeploymentByName(ctx context.Context, flowName, deploymentName string) (*Deployment, error) {
	cl := prefectapi.Call{Op: fmt.Sprintf("read deployment %q", flowName+"/"+deploymentName), Method: http.MethodGet,
		Path: "/deployments/name/" + prefectapi.Esc(flowName) + "/" + prefectapi.Esc(deploymentName)}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return prefectapi.DecodeOne[Deployment](c.t, cl, resp)
}

// CreateDeployment creates or updates a deployment.
func (c Deployments) CreateDeployment(ctx context.Context, d DeploymentCreate) (*Deployment, error) {
	cl := prefectapi.Call{Op: fmt.Sprintf("create deployment %q", d.Name), Method: http.MethodPost, Path: "/deployments/", Body: d}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return prefectapi.DecodeOne[Deployment](c.t, cl, resp)
}

// DeleteDeployment deletes a deployment.
func (c Deployments) DeleteDeployment(ctx context.Context, id string) error {
	_, err := c.t.Do(ctx, prefectapi.Call{Op: "delete deployment " + id, Method: http.MethodDelete, Path: "/deployments/" + prefectapi.Esc(id)})
	return err
}

// Flow is a flow as the API returns it.
type Flow struct {
	ID      string          `json:"id"`
	Name    string          `json:"name"`
	Tags    []string        `json:"tags"`
	Labels  *jsonv.Object   `json:"labels"`
	Created prefectapi.Time `json:"created"`
	Updated prefectapi.Time `json:"updated"`
	Raw     *jsonv.Object   `json:"-"`
}

// SetRaw keeps the response object as the server wrote it.
func (f *Flow) SetRaw(o *jsonv.Object) { f.Raw = o }

// FlowCreate is the body of POST /flows/ (which returns the existing flow
// of that name, if any).
type FlowCreate struct {
	Name   string        `json:"name"`
	Tags   []string      `json:"tags,omitempty"`
	Labels *jsonv.Object `json:"labels,omitempty"`
}

// ReadFlow reads a flow by id.
func (c Deployments) ReadFlow(ctx context.Context, id string) (*Flow, error) {
	cl := prefectapi.Call{Op: "read flow " + id, Method: http.MethodGet, Path: "/flows/" + prefectapi.Esc(id)}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return prefectapi.DecodeOne[Flow](c.t, cl, resp)
}

// CreateFlow creates a flow, or returns the one of that name.
func (c Deployments) CreateFlow(ctx context.Context, f FlowCreate) (*Flow, error) {
	cl := prefectapi.Call{Op: fmt.Sprintf("create flow %q", f.Name), Method: http.MethodPost, Path: "/flows/", Body: f}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return prefectapi.DecodeOne[Flow](c.t, cl, resp)
}
