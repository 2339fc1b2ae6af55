package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ecsworker/ecsworker/internal/inflight"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectevents"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/runreport"
)

// Worker serves one work pool.
type Worker struct {
	cfg     Config
	api     Prefect
	aws     AWS
	log     *slog.Logger
	metrics *Metrics
	report  *runreport.Reporter
	runs    *inflight.Runs

	mu         sync.Mutex
	pool       *prefectpool.WorkPool
	tmpl       *jobtemplate.Template
	workerID   string
	submitting map[string]bool // flow runs being submitted
	// recovered is set once the runs in flight at start-up were adopted.
	recovered bool

	health health
	share  budgetShare

	startedEvent string

	slots       chan struct{} // concurrent submissions
	backlog     bool          // a poll left runs for lack of slots
	submissions sync.WaitGroup
	pollNow     chan struct{}
	cancelNow   chan struct{}
	// subCtx outlives the worker's context by ShutdownTimeout so that a
	// submission under way when the worker is stopped can finish (or be
	// reported as crashed) instead of leaving a claimed run behind.
	subCtx context.Context
	// hard ends what outlives the worker's context, ShutdownTimeout after
	// it ends (see outlive).
	hard  context.Context
	bg    sync.WaitGroup // backend goroutines
	bgCtx context.Context
}

// New makes a worker; Run starts it.
func New(cfg Config, api Prefect, aws AWS) (*Worker, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "ECSWorker " + prefectapi.NewUUID()
	}
	w := &Worker{
		cfg:        cfg,
		api:        api,
		aws:        aws,
		log:        cfg.Logger.With("worker", cfg.Name, "pool", cfg.Pool),
		metrics:    NewMetrics(),
		submitting: map[string]bool{},
		pollNow:    make(chan struct{}, 1),
		cancelNow:  make(chan struct{}, 1),
	}
	// Without --limit, submissions still run at most maxSubmissions at a
	// time: RunTask's budget admits about 16 a second anyway, and each
	// submission holds its rendered job until RunTask answers, so ten
	// thousand runs claimed together would hold ten thousand jobs.
	slots := cfg.Limit
	if slots <= 0 {
		slots = maxSubmissions
	}
	w.slots = make(chan struct{}, slots)
	if b := aws.Budget(); b != nil {
		w.metrics.Registry.MustRegister(newBudgetCollector(b))
	}
	w.report = runreport.New(api, runreport.Options{Log: w.log, Now: cfg.Now, Detach: w.outlive, Source: w.eventSource, Notify: cfg.Notify})
	w.runs = inflight.New(w.runsOptions())
	api.SetWorker(cfg.Name, "")
	return w, nil
}

// runsOptions are the worker's runs in flight's: its reporter, metrics,
// AWS backends (awsBackend) and rendering.
func (w *Worker) runsOptions() inflight.Options {
	return inflight.Options{
		Worker: w.cfg.Name, Pool: w.cfg.Pool, StartupGrace: w.cfg.StartupGrace, API: w.api, Report: w.report,
		Metrics: inflight.Metrics{
			InFlight: w.metrics.inFlight, Stops: w.metrics.stops, Crashes: w.metrics.crashes, Cancellations: w.metrics.cancellations,
			StartPhases: w.metrics.startPhases,
		},
		Backends:   w.awsBackend,
		Submitting: w.isSubmitting,
		Job:        w.jobOf,
		Relaunch:   w.relaunchOnSpot,
		Now:        w.cfg.Now, Log: w.log,
	}
}

// Name is the worker's name as Prefect shows it.
func (w *Worker) Name() string { return w.cfg.Name }

// Metrics are the worker's Prometheus metrics.
func (w *Worker) Metrics() *Metrics { return w.metrics }

// Run serves the pool until ctx ends (or, with RunOnce, after one poll),
// then stops claiming runs, lets submissions in progress finish and
// returns, all within ShutdownTimeout of ctx's end whether or not Prefect
// and AWS answer. Tasks keep running: a restarted worker adopts them.
func (w *Worker) Run(ctx context.Context) error {
	// hard ends, ShutdownTimeout after ctx, everything that outlives ctx:
	// submissions finishing, crash reports, the last logs and events.
	hard, endHard := context.WithCancel(context.WithoutCancel(ctx))
	defer endHard()
	w.mu.Lock()
	w.hard = hard
	w.mu.Unlock()
	w.share.mu.Lock()
	w.share.started = w.cfg.Now()
	w.share.mu.Unlock()
	var stopSubs context.CancelFunc
	w.subCtx, stopSubs = context.WithCancel(hard)
	defer stopSubs()
	var stopBG context.CancelFunc
	w.bgCtx, stopBG = context.WithCancel(ctx)
	defer func() {
		stopBG()
		w.bg.Wait()
	}()

	if err := w.sync(ctx); err != nil && !transient(err) {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	w.log.Info("worker started", "queues", w.cfg.Queues, "limit", w.cfg.Limit)
	if w.cfg.OnStarted != nil {
		w.cfg.OnStarted()
	}
	w.runs.Start(w.bgCtx, &w.bg)
	w.report.SendLogs(w.bgCtx, &w.bg)
	// The stop keeps a tenth of ShutdownTimeout (at most 5s) for telling
	// Prefect what the submissions left behind: half for the last logs,
	// half for the last events.
	reserve := min(w.cfg.ShutdownTimeout/10, 5*time.Second)
	if em, err := w.api.NewEventEmitter(w.bgCtx, prefectevents.WithEventFlushTimeout(max(reserve/2, time.Millisecond))); err == nil {
		w.report.SetEmitter(em)
		started := prefect.WorkerStartedEvent(w.eventSource())
		w.startedEvent = started.ID
		w.report.Emit(started)
		defer func() {
			w.report.Emit(prefect.WorkerStoppedEvent(w.eventSource(), w.startedEvent))
			_ = em.Close() // within its flush timeout
		}()
	} else {
		w.log.Debug("worker events will not be sent", "err", err)
	}

	if w.cfg.RunOnce {
		w.pollOnce(ctx)
		w.submissions.Wait()
		w.report.FlushLogs(w.subCtx)
		w.log.Info("worker stopped after one poll (--run-once)")
		return nil
	}

	// Recovery reads every run in flight; polling must not wait for it.
	w.bg.Add(1)
	go func() { defer w.bg.Done(); w.recoverRuns(ctx) }()

	loops := []func(context.Context){w.heartbeatLoop, w.pollLoop, w.cancelLoop, w.sweepLoop, w.settleLoop}
	if w.cfg.EventStream {
		loops = append(loops, w.eventStreamLoop)
	}
	if w.cfg.EventsQueue != "" {
		loops = append(loops, w.taskEventsLoop)
	}
	var wg sync.WaitGroup
	for _, loop := range loops {
		wg.Add(1)
		go func() { defer wg.Done(); loop(ctx) }()
	}
	<-ctx.Done()
	stopping := time.Now()
	hardStop := time.AfterFunc(w.cfg.ShutdownTimeout, endHard)
	defer hardStop.Stop()
	w.log.Info("stopping: no new claims; waiting for submissions in progress", "timeout", w.cfg.ShutdownTimeout)
	wg.Wait()
	done := make(chan struct{})
	go func() { w.submissions.Wait(); close(done) }()
	subsDue := time.NewTimer(time.Until(stopping.Add(w.cfg.ShutdownTimeout - reserve)))
	defer subsDue.Stop()
	select {
	case <-done:
	case <-subsDue.C:
		w.log.Warn("submissions still in progress at the shutdown timeout; cancelling them (their runs are reported as crashed or resumed by the next worker)")
		stopSubs()
		<-done
	}
	logsCtx, cancelLogs := context.WithDeadline(hard, stopping.Add(w.cfg.ShutdownTimeout-reserve/2))
	w.report.FlushLogs(logsCtx)
	cancelLogs()
	w.log.Info("worker stopped; ECS tasks keep running and a restarted worker adopts them")
	return nil
}

// outlive returns a context that ctx's end does not cancel (a crash report
// or a task record must not be dropped because the worker is stopping)
// but that the hard stop, ShutdownTimeout after the worker's context,
// does.
func (w *Worker) outlive(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w.mu.Lock()
	hard := w.hard
	w.mu.Unlock()
	if hard == nil {
		return c, cancel
	}
	stop := context.AfterFunc(hard, cancel)
	return c, func() { stop(); cancel() }
}

// maxSubmissions bounds concurrent submissions when no --limit is given.
const maxSubmissions = 128

// transient reports errors worth retrying later: the Prefect API or the
// network being down, as opposed to bad credentials or a bad request.
func transient(err error) bool {
	return prefect.IsTransient(err) || errors.Is(err, context.DeadlineExceeded)
}
