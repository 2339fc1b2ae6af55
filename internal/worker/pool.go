package worker

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
)

// sync reads the work pool (creating it, or filling in an empty template,
// as Prefect's workers do) and sends a heartbeat.
func (w *Worker) sync(ctx context.Context) error {
	pool, err := w.api.ReadWorkPool(ctx, w.cfg.Pool)
	if errors.Is(err, prefect.ErrNotFound) {
		if !w.cfg.CreatePool {
			w.log.Warn("work pool not found; create it with 'ecsworker work-pool create' (nothing is polled until it exists)")
			w.health.heartbeat(w.cfg.Now(), false)
			return err
		}
		pool, err = w.api.CreateWorkPool(ctx, prefectpool.WorkPoolCreate{Name: w.cfg.Pool, Type: Type, BaseJobTemplate: ecsjob.DefaultTemplate().Object()})
		if errors.Is(err, prefect.ErrConflict) {
			pool, err = w.api.ReadWorkPool(ctx, w.cfg.Pool)
		} else if err == nil {
			w.log.Info("work pool created with ecsworker's default base job template")
		}
	}
	if err != nil {
		w.health.heartbeat(w.cfg.Now(), false)
		return err
	}
	if pool.Type != Type {
		w.log.Warn("worker type mismatch: the pool's runs are rendered with its template as if it were an ecs pool; unexpected behaviour may follow", "pool_type", pool.Type)
	}
	if pool.BaseJobTemplate.Len() == 0 {
		def := ecsjob.DefaultTemplate().Object()
		if err := w.api.UpdateWorkPool(ctx, pool.Name, prefectpool.WorkPoolUpdate{BaseJobTemplate: def}); err != nil {
			w.log.Warn("could not install the default base job template in the empty pool", "err", err)
		}
		pool.BaseJobTemplate = def
	}
	tmpl, terr := jobtemplate.FromObject(pool.BaseJobTemplate)
	w.mu.Lock()
	w.pool = pool
	if terr == nil {
		w.tmpl = tmpl
	}
	w.mu.Unlock()
	if terr != nil {
		w.log.Error("the pool's base job template cannot be read; runs will crash until it is fixed", "err", terr)
	}

	id, err := w.api.Heartbeat(ctx, pool.Name, prefectpool.WorkerHeartbeat{
		Name:                     w.cfg.Name,
		HeartbeatIntervalSeconds: int(w.cfg.HeartbeatInterval / time.Second),
		ReturnID:                 w.api.IsCloud(),
	})
	w.health.heartbeat(w.cfg.Now(), err == nil)
	if err != nil {
		return err
	}
	// The heartbeat just renewed this worker's row: count the others.
	w.shareBudget(ctx)
	if id != "" {
		w.mu.Lock()
		first := w.workerID == ""
		w.workerID = id
		w.mu.Unlock()
		if first {
			w.api.SetWorker(w.cfg.Name, id)
			w.report.SetWorkerID(id)
		}
	}
	return nil
}

// snapshot returns the pool and template as of the last sync. Templates
// are not mutated after parsing, and rendering copies them.
func (w *Worker) snapshot() (*prefectpool.WorkPool, *jobtemplate.Template) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pool, w.tmpl
}

func (w *Worker) heartbeatLoop(ctx context.Context) {
	every(ctx, w.cfg.HeartbeatInterval, nil, func() {
		if err := w.sync(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("heartbeat failed; retrying at the next interval", "err", err)
		}
	})
}

// every runs fn every interval, with ±30% jitter as Prefect's loops do so
// that many workers started together do not poll in step, and at once
// whenever now receives.
func every(ctx context.Context, interval time.Duration, now <-chan struct{}, fn func()) {
	for {
		jitter := time.Duration((rand.Float64()*0.6 - 0.3) * float64(interval))
		t := time.NewTimer(interval + jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-now:
			t.Stop()
		}
		fn()
	}
}
