package worker

import (
	"context"

	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/inflight"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/taskdef"
	"github.com/ecsworker/ecsworker/internal/tasklogs"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// awsBackend makes the AWS side of one set of credentials from the
// worker's client factory: one identity, so one memory of refused actions,
// one task-definition cache and one tracker (inflight.Options.Backends).
func (w *Worker) awsBackend(ctx context.Context, creds awscreds.Credentials) (*inflight.Backend, error) {
	clients, err := w.aws.For(ctx, creds)
	if err != nil {
		return nil, err
	}
	tdOpts := w.cfg.TaskDefinitionOptions
	tdOpts.Permissions = clients.Permissions
	tds := taskdef.NewRegistry(clients.ECS, tdOpts)
	return &inflight.Backend{
		Clients:         clients,
		TaskDefinitions: tds,
		Launcher:        launch.NewLauncher(clients, tds, launch.Options{Clock: w.cfg.Now}),
		Tracker:         tracking.NewTracker(clients.ECS, tracking.Options{Interval: w.cfg.TrackInterval, BatchSize: w.cfg.TrackerBatchSize, Logger: w.log, Now: w.cfg.Now, Permissions: clients.Permissions}),
		Logs:            tasklogs.NewReader(clients.Logs, clients.Permissions),
	}, nil
}
