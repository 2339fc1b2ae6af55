package inflight

import (
	"context"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/submission"
	"github.com/ecsworker/ecsworker/internal/tasklogs"
	"github.com/ecsworker/ecsworker/internal/tracking"
)

// Backend is everything that talks to AWS with one set of credentials:
// one identity, so one memory of refused actions, one task-definition
// cache and one tracker.
type Backend struct {
	Clients         *awsclient.Clients
	TaskDefinitions TaskDefinitions
	Launcher        submission.Launcher
	Tracker         Tracker
	Logs            LogTail

	key  string             // awscreds.Credentials.Fingerprint
	stop context.CancelFunc // ends its tracker and update handler

	// Guarded by Runs.mu: a backend with neither users nor tracked runs
	// may be dropped to make room for another set of credentials.
	users   int
	tracked int
	used    uint64 // Runs.backendUse when last handed out
}

// TaskDefinitions reads and forgets task definitions (taskdef.Registry).
type TaskDefinitions interface {
	Describe(ctx context.Context, arn string) (*jsonv.Object, error)
	Invalidate(arn string)
}

// Tracker follows tasks to their end (tracking.Tracker).
type Tracker interface {
	Track(ref tracking.TaskRef)
	Forget(taskARN string)
	Observe(ev tracking.TaskEvent) bool
	Updates() <-chan tracking.TaskUpdate
	Run(ctx context.Context) error
}

// LogTail reads a container's last log lines (tasklogs.Reader).
type LogTail interface {
	Tail(ctx context.Context, src tasklogs.Source, n int) ([]tasklogs.Line, error)
}

// maxBackends bounds the sets of credentials a worker keeps clients,
// caches and a tracker for. Beyond it, the least recently used set that
// follows no task is dropped (it is made again when next needed), so that a
// pool whose deployments each carry their own aws_credentials block costs
// memory for the blocks in use, not for every block ever seen.
const maxBackends = 32

// Backend returns what talks to AWS with creds, made on first use and
// keyed by the credentials' fingerprint, which covers every field (an
// ExternalId or a session policy included): two blocks that differ in
// anything never share clients, nor so an assumed-role session. The caller
// holds it until it calls release.
func (r *Runs) Backend(ctx context.Context, creds awscreds.Credentials) (b *Backend, release func(), err error) {
	key := creds.Fingerprint()
	r.mu.Lock()
	b = r.backends[key]
	if b != nil {
		r.hold(b)
		r.mu.Unlock()
		return b, func() { r.releaseBackend(b) }, nil
	}
	r.mu.Unlock()

	made, err := r.opts.Backends(ctx, creds)
	if err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b = r.backends[key]; b != nil {
		r.hold(b)
		return b, func() { r.releaseBackend(b) }, nil
	}
	r.evictIdleBackendLocked()
	b = made
	b.key = key
	r.backends[key] = b
	r.hold(b)
	if r.bgCtx != nil {
		ctx, stop := context.WithCancel(r.bgCtx)
		b.stop = stop
		r.bg.Add(2)
		go func() { defer r.bg.Done(); _ = b.Tracker.Run(ctx) }()
		go func() { defer r.bg.Done(); r.handleUpdates(ctx, b) }()
	}
	return b, func() { r.releaseBackend(b) }, nil
}

// hold marks b as in use by a caller; r.mu is held.
func (r *Runs) hold(b *Backend) {
	r.backendUse++
	b.users++
	b.used = r.backendUse
}

func (r *Runs) releaseBackend(b *Backend) {
	r.mu.Lock()
	b.users--
	r.mu.Unlock()
}

// evictIdleBackendLocked drops the least recently used idle backend when
// the worker holds maxBackends of them; r.mu is held.
func (r *Runs) evictIdleBackendLocked() {
	if len(r.backends) < maxBackends {
		return
	}
	var victim *Backend
	for _, b := range r.backends {
		if b.users == 0 && b.tracked == 0 && (victim == nil || b.used < victim.used) {
			victim = b
		}
	}
	if victim == nil {
		return // every one follows tasks: keep them, the map grows
	}
	delete(r.backends, victim.key)
	if victim.stop != nil {
		victim.stop()
	}
}
