package runreport

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ecsworker/ecsworker/internal/prefect"
)

// runLogger sends the worker's messages about a flow run to that run's
// logs in Prefect, in batches (as Prefect's own handler does every 2 s), so
// that users see them in the UI next to the flow's own logs.
type runLogger struct {
	api LogsAPI
	log *slog.Logger
	now func() time.Time

	flushMu  sync.Mutex
	mu       sync.Mutex
	pending  []prefect.LogCreate
	workerID string
}

const (
	runLogInterval = 2 * time.Second
	runLogBatch    = 200
	runLogMax      = 10000 // beyond this, the oldest records are dropped
)

func newRunLogger(api LogsAPI, log *slog.Logger, now func() time.Time) *runLogger {
	return &runLogger{api: api, log: log, now: now}
}

func (l *runLogger) setWorkerID(id string) {
	l.mu.Lock()
	l.workerID = id
	l.mu.Unlock()
}

func (l *runLogger) add(runID string, level int, message string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) >= runLogMax {
		l.pending = l.pending[1:]
	}
	l.pending = append(l.pending, prefect.LogCreate{Name: "prefect.flow_runs.worker", Level: level, Message: message, Timestamp: at, FlowRunID: runID, WorkerID: l.workerID})
}

func (l *runLogger) start(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(runLogInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				l.flush(ctx)
			}
		}
	}()
}

// flush sends what is pending; records that could not be sent are put
// back for the next try. Flushes are serialised: the periodic flush and the
// one at shutdown may otherwise send the same records twice.
func (l *runLogger) flush(ctx context.Context) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	for {
		l.mu.Lock()
		n := min(len(l.pending), runLogBatch)
		batch := l.pending[:n:n]
		l.pending = l.pending[n:]
		l.mu.Unlock()
		if n == 0 {
			return
		}
		if err := l.api.CreateLogs(ctx, batch); err != nil {
			l.log.Debug("could not send flow run logs; keeping them for the next try", "err", err)
			l.mu.Lock()
			l.pending = append(batch, l.pending...)
			if over := len(l.pending) - runLogMax; over > 0 {
				l.pending = l.pending[over:]
			}
			l.mu.Unlock()
			return
		}
	}
}

func slogLevel(level int) slog.Level {
	switch {
	case level >= prefect.LevelError:
		return slog.LevelError
	case level >= prefect.LevelWarning:
		return slog.LevelWarn
	case level >= prefect.LevelInfo:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}
