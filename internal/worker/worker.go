package worker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ecsworker/ecsworker/internal/awsecs"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/prefect"
)

// Worker serves one work pool.
type Worker struct {
	cfg     Config
	api     *prefect.Client
	aws     *awsecs.ClientFactory
	log     *slog.Logger
	metrics *Metrics
	runLogs *runLogger

	mu       sync.Mutex
	pool     *prefect.WorkPool
	tmpl     *jobtemplate.Template
	workerID string
	inflight map[string]bool        // flow runs being submitted
	runs     map[string]*trackedRun // flow runs whose task is followed, by flow run id
	byTask   map[string]*trackedRun // the same, by task ARN
	backends map[string]*backend    // per AWS credentials
	// unsettled are stopped tasks whose runs Prefect could not be told
	// about yet, by flow run id.
	unsettled map[string]unsettledStop
	// recovered is set once the runs in flight at start-up were adopted.
	recovered bool

	health health

	emitter      *prefect.EventEmitter // nil when events cannot be sent
	startedEvent string

	slots       chan struct{} // concurrent submissions
	backlog     bool          // a poll left runs for lack of slots
	submissions sync.WaitGroup
	pollNow     chan struct{}
	cancelNow   chan struct{}
	// subCtx outlives the worker's context by ShutdownTimeout so that a
	// submission under way when the worker is stopped can finish (or be
	// reported as crashed) instead of leaving a claimed run behind.
	subCtx    context.Context
	subCancel context.CancelFunc
	bg        sync.WaitGroup // backend goroutines
	bgCtx     context.Context
}

// trackedRun is a flow run whose ECS task the worker follows.
type trackedRun struct {
	flowRunID  string
	identifier string
	ref        awsecs.TaskRef
	backend    *backend
	registered string // task definition ARN registered for this run, if any
	deregister bool   // auto_deregister_task_definition
	started    bool   // the task reached RUNNING
	// markedPending is set once the run was marked InfrastructurePending.
	markedPending bool
	lastStatus    string
	submittedAt   time.Time

	// For the executed-flow-run event; nil for adopted runs.
	run            *prefect.FlowRun
	deployment     *prefect.Deployment
	flow           *prefect.Flow
	submittedEvent string
}

// backend is everything that talks to AWS with one set of credentials.
type backend struct {
	key      string
	clients  *awsecs.Clients
	tds      *awsecs.TaskDefinitions
	launcher *awsecs.Launcher
	tracker  *awsecs.Tracker
	logs     *awsecs.LogReader
}

// New makes a worker; Run starts it.
func New(cfg Config, api *prefect.Client, aws *awsecs.ClientFactory) (*Worker, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name = "ECSWorker " + newUUID()
	}
	w := &Worker{
		cfg:       cfg,
		api:       api,
		aws:       aws,
		log:       cfg.Logger.With("worker", cfg.Name, "pool", cfg.Pool),
		metrics:   NewMetrics(),
		inflight:  map[string]bool{},
		runs:      map[string]*trackedRun{},
		byTask:    map[string]*trackedRun{},
		backends:  map[string]*backend{},
		unsettled: map[string]unsettledStop{},
		pollNow:   make(chan struct{}, 1),
		cancelNow: make(chan struct{}, 1),
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
	w.runLogs = newRunLogger(api, w.log, cfg.Now)
	api.SetWorker(cfg.Name, "")
	return w, nil
}

func (w *Worker) notify(event, runID string) {
	if w.cfg.Notify != nil {
		w.cfg.Notify(event, runID)
	}
}

// Name is the worker's name as Prefect shows it.
func (w *Worker) Name() string { return w.cfg.Name }

// Metrics are the worker's Prometheus metrics.
func (w *Worker) Metrics() *Metrics { return w.metrics }

// Run serves the pool until ctx ends (or, with RunOnce, after one poll),
// then stops claiming runs, lets submissions in progress finish within
// ShutdownTimeout and returns. Tasks keep running: a restarted worker
// adopts them.
func (w *Worker) Run(ctx context.Context) error {
	var stopSubs context.CancelFunc
	w.subCtx, stopSubs = context.WithCancel(context.WithoutCancel(ctx))
	w.subCancel = stopSubs
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
	w.runLogs.start(w.bgCtx, &w.bg)
	if em, err := w.api.NewEventEmitter(w.bgCtx); err == nil {
		w.mu.Lock()
		w.emitter = em
		w.mu.Unlock()
		started := prefect.WorkerStartedEvent(w.eventSource())
		w.startedEvent = started.ID
		w.emit(started)
		defer func() {
			w.emit(prefect.WorkerStoppedEvent(w.eventSource(), w.startedEvent))
			_ = em.Close()
		}()
	} else {
		w.log.Debug("worker events will not be sent", "err", err)
	}

	if w.cfg.RunOnce {
		w.pollOnce(ctx)
		w.submissions.Wait()
		w.runLogs.flush(w.subCtx)
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
	wg.Wait()
	w.log.Info("stopping: no new claims; waiting for submissions in progress", "timeout", w.cfg.ShutdownTimeout)
	done := make(chan struct{})
	go func() { w.submissions.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.ShutdownTimeout):
		w.log.Warn("submissions still in progress at the shutdown timeout; cancelling them (their runs are reported as crashed or resumed by the next worker)")
		stopSubs()
		<-done
	}
	w.runLogs.flush(context.WithoutCancel(ctx))
	w.log.Info("worker stopped; ECS tasks keep running and a restarted worker adopts them")
	return nil
}

// backendFor returns (making it once) what talks to AWS with creds.
func (w *Worker) backendFor(ctx context.Context, creds awsecs.Credentials) (*backend, error) {
	key := credentialsKey(creds)
	w.mu.Lock()
	b := w.backends[key]
	w.mu.Unlock()
	if b != nil {
		return b, nil
	}
	clients, err := w.aws.For(ctx, creds)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if b := w.backends[key]; b != nil {
		return b, nil
	}
	tds := awsecs.NewTaskDefinitions(clients.ECS, w.cfg.TaskDefinitionOptions)
	b = &backend{
		key:      key,
		clients:  clients,
		tds:      tds,
		launcher: awsecs.NewLauncher(clients, tds, w.aws.Budget(), awsecs.LaunchOptions{}),
		tracker:  awsecs.NewTracker(clients.ECS, awsecs.TrackerOptions{Interval: w.cfg.TrackInterval, BatchSize: w.cfg.TrackerBatchSize, Logger: w.log, Now: w.cfg.Now}),
		logs:     awsecs.NewLogReader(clients.Logs),
	}
	w.backends[key] = b
	if w.bgCtx != nil {
		w.bg.Add(2)
		go func() { defer w.bg.Done(); _ = b.tracker.Run(w.bgCtx) }()
		go func() { defer w.bg.Done(); w.handleUpdates(w.bgCtx, b) }()
	}
	return b, nil
}

// maxSubmissions bounds concurrent submissions when no --limit is given.
const maxSubmissions = 128

// credentialsKey tells credential sets apart without keeping secrets in
// clear text in a map key that might be printed.
func credentialsKey(c awsecs.Credentials) string {
	h := sha256.New()
	for _, s := range []string{c.AccessKeyID, c.SecretAccessKey, c.SessionToken, c.Profile, c.Region, c.EndpointURL, c.CABundle, c.AssumeRoleARN, fmt.Sprint(c.InsecureSkipVerify, c.DisableSSL, c.MaxAttempts, c.RetryMode, c.AssumeRole)} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// transient reports errors worth retrying later: the Prefect API or the
// network being down, as opposed to bad credentials or a bad request.
func transient(err error) bool {
	return prefect.IsTransient(err) || errors.Is(err, context.DeadlineExceeded)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
