// Package prefect is a client for the Prefect 3 REST API, limited to what a
// work-pool worker and its command line need. It behaves like Prefect's own
// Python client where servers can tell the difference: the same headers,
// CSRF handshake, retry policy and request bodies, so that a Prefect server
// or Prefect Cloud treats it as a well-behaved modern client.
//
// Client is where callers start. This package holds flow runs (states,
// scheduled runs, logs) and the events a worker sends about them; the
// checks of the API (prefectcheck) and the calls on work pools
// (prefectpool), deployments (prefectdeploy) and events (prefectevents)
// come with Client, and prefectapi carries them all.
package prefect

import (
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectcheck"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
	"github.com/ecsworker/ecsworker/internal/prefectevents"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
)

// Client calls the Prefect API. It is safe for concurrent use.
type Client struct {
	prefectcheck.Checks
	prefectpool.Pools
	prefectdeploy.Deployments
	prefectevents.Events

	t *prefectapi.Transport
	// runLimits are the size limits of PollScheduledFlowRuns; tests lower
	// them.
	runLimits runLimits
	runSizes  runSizes
}

// New returns a client for cfg.APIURL.
func New(cfg prefectconfig.Config, opts ...prefectapi.Option) (*Client, error) {
	t, err := prefectapi.New(cfg, opts...)
	if err != nil {
		return nil, err
	}
	return &Client{
		Checks: prefectcheck.New(t), Pools: prefectpool.New(t), Deployments: prefectdeploy.New(t), Events: prefectevents.New(t),
		t: t, runLimits: defaultRunLimits,
	}, nil
}

// Config returns the client's settings.
func (c *Client) Config() prefectconfig.Config { return c.t.Config() }

// IsCloud reports whether the client talks to Prefect Cloud.
func (c *Client) IsCloud() bool { return c.t.IsCloud() }

// SetWorker changes the attribution headers (see prefectapi.WithWorker);
// Prefect sets the id once the first Cloud heartbeat returns it.
func (c *Client) SetWorker(name, id string) { c.t.SetWorker(name, id) }

// The errors most callers match, from prefecterr; see there for the rest.
var (
	ErrNotFound        = prefecterr.ErrNotFound        // 404
	ErrUnauthorized    = prefecterr.ErrUnauthorized    // 401
	ErrForbidden       = prefecterr.ErrForbidden       // 403
	ErrConflict        = prefecterr.ErrConflict        // 409
	ErrUnprocessable   = prefecterr.ErrUnprocessable   // 422
	ErrInvalidResponse = prefecterr.ErrInvalidResponse // a body that is not what the API documents
)

// IsTransient reports whether an error is worth trying again later: no
// answer at all, or a server-side failure (5xx, 408, 429).
func IsTransient(err error) bool { return prefecterr.IsTransient(err) }
