package worker

import (
	"context"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/launch"
	"github.com/ecsworker/ecsworker/internal/taskdef"
	"github.com/ecsworker/ecsworker/internal/tasklogs"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// backend is everything that talks to AWS with one set of credentials:
// one identity, so one memory of refused actions, one task-definition
// cache and one tracker.
type backend struct {
	key      string // awscreds.Credentials.Fingerprint
	clients  *awsclient.Clients
	tds      *taskdef.Registry
	launcher *launch.Launcher
	tracker  *tracking.Tracker
	logs     *tasklogs.Reader
	stop     context.CancelFunc // ends its tracker and update handler

	// Guarded by Worker.mu: a backend with neither users nor tracked runs
	// may be dropped to make room for another set of credentials.
	users   int
	tracked int
	used    uint64 // Worker.backendUse when last handed out
}

// maxBackends bounds the sets of credentials a worker keeps clients,
// caches and a tracker for. Beyond it, the least recently used set that
// follows no task is dropped (it is made again when next needed), so that a
// pool whose deployments each carry their own aws_credentials block costs
// memory for the blocks in use, not for every block ever seen.
const maxBackends = 32

// backendFor returns what talks to AWS with creds, made on first use and
// keyed by the credentials' fingerprint, which covers every field (an
// ExternalId or a session policy included): two blocks that differ in
// anything never share clients, nor so an assumed-role session. The caller
// holds it until it calls release.
func (w *Worker) backendFor(ctx context.Context, creds awscreds.Credentials) (b *backend, release func(), err error) {
	key := creds.Fingerprint()
	w.mu.Lock()
	b = w.backends[key]
	if b != nil {
		w.hold(b)
		w.mu.Unlock()
		return b, func() { w.releaseBackend(b) }, nil
	}
	w.mu.Unlock()

	clients, err := w.aws.For(ctx, creds)
	if err != nil {
		return nil, nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if b = w.backends[key]; b != nil {
		w.hold(b)
		return b, func() { w.releaseBackend(b) }, nil
	}
	w.evictIdleBackendLocked()
	tdOpts := w.cfg.TaskDefinitionOptions
	tdOpts.Permissions = clients.Permissions
	tds := taskdef.NewRegistry(clients.ECS, tdOpts)
	b = &backend{
		key:      key,
		clients:  clients,
		tds:      tds,
		launcher: launch.NewLauncher(clients, tds, launch.Options{}),
		tracker:  tracking.NewTracker(clients.ECS, tracking.Options{Interval: w.cfg.TrackInterval, BatchSize: w.cfg.TrackerBatchSize, Logger: w.log, Now: w.cfg.Now, Permissions: clients.Permissions}),
		logs:     tasklogs.NewReader(clients.Logs, clients.Permissions),
	}
	w.backends[key] = b
	w.hold(b)
	if w.bgCtx != nil {
		ctx, stop := context.WithCancel(w.bgCtx)
		b.stop = stop
		w.bg.Add(2)
		go func() { defer w.bg.Done(); _ = b.tracker.Run(ctx) }()
		go func() { defer w.bg.Done(); w.handleUpdates(ctx, b) }()
	}
	return b, func() { w.releaseBackend(b) }, nil
}

// hold marks b as in use by a caller; w.mu is held.
func (w *Worker) hold(b *backend) {
	w.backendUse++
	b.users++
	b.used = w.backendUse
}

func (w *Worker) releaseBackend(b *backend) {
	w.mu.Lock()
	b.users--
	w.mu.Unlock()
}

// evictIdleBackendLocked drops the least recently used idle backend when
// the worker holds maxBackends of them; w.mu is held.
func (w *Worker) evictIdleBackendLocked() {
	if len(w.backends) < maxBackends {
		return
	}
	var victim *backend
	for _, b := range w.backends {
		if b.users == 0 && b.tracked == 0 && (victim == nil || b.used < victim.used) {
			victim = b
		}
	}
	if victim == nil {
		return // every one follows tasks: keep them, the map grows
	}
	delete(w.backends, victim.key)
	if victim.stop != nil {
		victim.stop()
	}
}
