package worker

import (
	"context"
	"time"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/prefectevents"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/submission"
	"github.com/ecsworker/ecsworker/internal/templating"
)

// What the worker consumes, declared here by what it uses: *prefect.Client
// and *awsclient.Factory in production, in-process fakes in unit tests.

// Prefect is everything the worker asks of the Prefect API.
type Prefect interface {
	poolAPI
	runsAPI
	submission.Prefect
	logsAPI
	eventsAPI
}

// poolAPI keeps the work pool and the worker's registration.
type poolAPI interface {
	ReadWorkPool(ctx context.Context, name string) (*prefectpool.WorkPool, error)
	CreateWorkPool(ctx context.Context, p prefectpool.WorkPoolCreate) (*prefectpool.WorkPool, error)
	UpdateWorkPool(ctx context.Context, name string, u prefectpool.WorkPoolUpdate) error
	Heartbeat(ctx context.Context, pool string, hb prefectpool.WorkerHeartbeat) (string, error)
	FilterWorkers(ctx context.Context, pool string, f prefectpool.WorkerFilter) ([]prefectpool.Worker, error)
	SetWorker(name, id string)
	IsCloud() bool
}

// runsAPI finds and reads the pool's runs.
type runsAPI interface {
	PollScheduledFlowRuns(ctx context.Context, pool string, queues []string, scheduledBefore time.Time, limit int) (prefect.ScheduledRuns, error)
	ListFlowRuns(ctx context.Context, f prefect.FlowRunFilter) ([]prefect.FlowRun, error)
	EachFlowRunPage(ctx context.Context, f prefect.FlowRunFilter, fn func([]prefect.FlowRun) error) error
	ReadDeployment(ctx context.Context, id string) (*prefectdeploy.Deployment, error)
	ReadFlow(ctx context.Context, id string) (*prefectdeploy.Flow, error)
	SetInfrastructurePID(ctx context.Context, id, pid string) error
	// Config and TemplateResolver are what a run's job is rendered with:
	// the API settings the flow inherits, and block references.
	Config() prefectconfig.Config
	TemplateResolver() templating.Resolver
}

// logsAPI receives the worker's messages about a run.
type logsAPI interface {
	CreateLogs(ctx context.Context, logs []prefect.LogCreate) error
}

// eventsAPI is Prefect's event stream, both ways.
type eventsAPI interface {
	NewEventEmitter(ctx context.Context, opts ...prefectevents.EventEmitterOption) (*prefectevents.EventEmitter, error)
	SubscribeEvents(ctx context.Context, filter prefectevents.EventFilter) (*prefectevents.EventSubscription, error)
}

// AWS makes the AWS clients of one set of credentials.
type AWS interface {
	For(ctx context.Context, creds awscreds.Credentials) (*awsclient.Clients, error)
	// Budget and Monitor may be nil: no call budget, no /health check of
	// AWS.
	Budget() *awsclient.Budget
	Monitor() *awsclient.CallMonitor
}
