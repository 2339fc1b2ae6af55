// Package workercmd holds `ecsworker worker start`: the worker's flags,
// settings, logging, health and metrics endpoints.
package workercmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	"github.com/ecsworker/ecsworker/internal/emf"
	"github.com/ecsworker/ecsworker/internal/memlimit"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
	"github.com/ecsworker/ecsworker/internal/redact"
	"github.com/ecsworker/ecsworker/internal/worker"
)

type workerOptions struct {
	pool, name, typ                    string
	queues                             []string
	limit, maxInFlight                 int
	prefetch                           float64
	runOnce, healthcheck, noCreatePool bool
	healthAddr, metricsAddr            string
	metricsFormat, emfNamespace        string
	logFormat, logLevel                string
	eventsQueue, defaultImage          string
	noEventStream                      bool
	awsMaxAttempts                     int
	awsBudget                          string
	shutdownTimeout                    time.Duration
	awsAttemptTimeout, awsCallTimeout  time.Duration
	awsUnhealthyAfter                  time.Duration
	// heapProfile serves the heap profile beside /metrics, for the
	// bench's memory profile (hidden: a profile names the worker's code).
	heapProfile bool
}

// New is `ecsworker worker`: the worker itself.
func New(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "worker", Short: "Run the ECS worker"}
	cmd.AddCommand(newWorkerStartCmd(stdio, api))
	return cmd
}

func newWorkerStartCmd(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	o := workerOptions{}
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Serve an ecs work pool: run its scheduled flow runs as ECS tasks",
		Long: `Start a worker for an "ecs" work pool, like 'prefect worker start --pool NAME --type ecs':
it heartbeats, polls the pool for scheduled flow runs, claims each, registers (or
reuses) its task definition, starts its ECS task and follows the task until it
stops, reporting crashes with their diagnosis and stopping the tasks of runs
cancelled before their flow started.

Settings come from flags, then PREFECT_WORKER_* environment variables and the
active Prefect profile (PREFECT_WORKER_QUERY_SECONDS, PREFECT_WORKER_HEARTBEAT_SECONDS,
PREFECT_WORKER_PREFETCH_SECONDS, PREFECT_WORKER_WEBSERVER_HOST/PORT). AWS
credentials come from each job's aws_credentials block or, without one, the
standard AWS chain (environment, shared config and SSO, ECS task role, instance
metadata). On SIGINT or SIGTERM the worker stops claiming, lets submissions in
progress finish and exits; tasks keep running and a restarted worker adopts them.`,
		Example: `  ecsworker worker start --pool my-pool
  ecsworker worker start --pool my-pool --work-queue critical --limit 10 --with-healthcheck --metrics-addr :9090`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("prefetch-seconds") {
				o.prefetch = -1 // from the settings
			}
			return runWorker(cmd, stdio, api, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.pool, "pool", "p", "", "work pool to serve (required)")
	f.StringArrayVarP(&o.queues, "work-queue", "q", nil, "work queue to poll (repeatable; default: all of the pool's)")
	f.StringVarP(&o.name, "name", "n", "", "worker name (default: ECSWorker <uuid>)")
	f.StringVarP(&o.typ, "type", "t", worker.Type, "worker type (only ecs)")
	f.IntVarP(&o.limit, "limit", "l", 0, "most flow runs being submitted at once (default 0: up to 128 at once, as many as AWS's RunTask rate admits)")
	f.IntVar(&o.maxInFlight, "max-in-flight", 0, "most flow runs whose tasks are followed at once (0: no limit)")
	f.Float64Var(&o.prefetch, "prefetch-seconds", 0, "claim runs scheduled up to this many seconds ahead (default: PREFECT_WORKER_PREFETCH_SECONDS, else 10)")
	f.BoolVar(&o.runOnce, "run-once", false, "poll once, submit what was claimed, and exit")
	f.BoolVar(&o.healthcheck, "with-healthcheck", false, "serve GET /health")
	f.StringVar(&o.healthAddr, "healthcheck-addr", "", "health check address (default: PREFECT_WORKER_WEBSERVER_HOST:PORT or 0.0.0.0:8080)")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on /metrics at this address (e.g. :9090)")
	f.StringVar(&o.metricsFormat, "metrics-format", "", "metrics output: emf (CloudWatch Embedded Metric Format records on stdout, once a minute), prometheus (/metrics at --metrics-addr) or none (default: emf on ECS, else prometheus)")
	f.StringVar(&o.emfNamespace, "emf-namespace", emf.DefaultNamespace, "CloudWatch namespace of the EMF metrics")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.logLevel, "log-level", "", "log level: debug, info, warning or error (default: PREFECT_LOGGING_LEVEL or info)")
	f.BoolVar(&o.noCreatePool, "no-create-pool", false, "do not create the pool when it does not exist")
	f.StringVar(&o.eventsQueue, "events-queue", "", "SQS queue of ECS task state change events (default: PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME)")
	f.BoolVar(&o.noEventStream, "no-event-stream", false, "do not subscribe to Prefect's event stream (poll only)")
	f.StringVar(&o.defaultImage, "default-image", clikit.EnvOr("ECSWORKER_DEFAULT_IMAGE", clikit.DefaultImage), "image for jobs that set none (env ECSWORKER_DEFAULT_IMAGE)")
	f.IntVar(&o.awsMaxAttempts, "aws-max-attempts", 0, "attempts per AWS call, retries included (default 10, adaptive retry)")
	f.StringVar(&o.awsBudget, "aws-budget", "", "client-side AWS call rates, e.g. RunTask=20:100,DescribeTasks=10:50 (rate per second:burst)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "longest time from SIGTERM to exit: submissions in progress finish within it, even with Prefect and AWS unreachable")
	f.DurationVar(&o.awsAttemptTimeout, "aws-attempt-timeout", awsclient.DefaultAttemptTimeout, "longest wait for one attempt of an AWS call; it is then retried")
	f.DurationVar(&o.awsCallTimeout, "aws-call-timeout", awsclient.DefaultCallTimeout, "longest time an AWS call is retried; a submission given up is resumed later with the same client token")
	f.DurationVar(&o.awsUnhealthyAfter, "aws-unhealthy-after", 5*time.Minute, "/health fails once AWS has not answered (a call waiting, or all failing) for this long")
	f.BoolVar(&o.heapProfile, "debug-heap-profile", false, "serve the Go heap profile on /debug/pprof/heap beside /metrics (for go tool pprof)")
	_ = f.MarkHidden("debug-heap-profile") // a development aid, not a user setting
	return cmd
}

func runWorker(cmd *cobra.Command, stdio clikit.IO, api *clikit.APIFlags, o workerOptions) error {
	if o.pool == "" {
		return clikit.Invalid("--pool is required: the work pool to serve")
	}
	if o.typ != worker.Type {
		return clikit.Invalid("--type %q: ecsworker is a worker of type \"ecs\"", o.typ)
	}
	// Names Prefect would refuse are refused here, with the rule, rather
	// than as the server's 422.
	if err := prefectpool.ValidateWorkPoolName(o.pool); err != nil {
		return clikit.Invalid("--pool: %v", err)
	}
	for _, q := range o.queues {
		if err := prefectpool.ValidateWorkQueueName(q); err != nil {
			return clikit.Invalid("--work-queue: %v", err)
		}
	}
	settings, err := prefectconfig.SettingLookup(os.LookupEnv, api.Profile)
	if err != nil {
		return &clikit.CodedError{Code: clikit.ExitInvalid, Err: err}
	}
	format, err := metricsFormat(o, os.LookupEnv)
	if err != nil {
		return err
	}
	// EMF records (stdout) and log lines (stderr) reach one log stream on
	// ECS, and one terminal elsewhere: one lock keeps every line whole.
	var outMu sync.Mutex
	stdout, stderr := &lockedWriter{mu: &outMu, w: stdio.Out}, &lockedWriter{mu: &outMu, w: stdio.Err}
	logger, err := newLogger(stderr, o.logFormat, cmp.Or(o.logLevel, lookupOr(settings, "PREFECT_LOGGING_LEVEL", "info")))
	if err != nil {
		return err
	}
	// The client logs its retries through the worker's logger, which
	// masks the client's own secrets: they are known once it is built.
	masking := &redactHandler{Handler: logger.Handler(), secrets: redact.New()}
	logger = slog.New(masking)
	switch applied, err := memlimit.Apply(os.LookupEnv, os.DirFS("/sys/fs/cgroup")); {
	case err != nil:
		logger.Warn("no soft memory limit: the container's memory limit cannot be read; set GOMEMLIMIT to give one", "err", err)
	case applied.Limit > 0:
		logger.Debug("soft memory limit set from the container's (GOMEMLIMIT overrides it)",
			"limit_mib", applied.Limit>>20, "container_mib", applied.Container>>20)
	}
	client, err := api.Client(prefectapi.WithLogger(logger))
	if err != nil {
		return err
	}
	cfg := client.Config()
	masking.secrets = redact.New(cfg.APIKey, cfg.AuthString)

	seconds := func(flag float64, setting string, def float64) (time.Duration, error) {
		v := flag
		if v < 0 {
			s := lookupOr(settings, setting, strconv.FormatFloat(def, 'f', -1, 64))
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || f < 0 {
				return 0, clikit.Invalid("%s=%q: give a number of seconds", setting, s)
			}
			v = f
		}
		return time.Duration(v * float64(time.Second)), nil
	}
	query, err := seconds(-1, "PREFECT_WORKER_QUERY_SECONDS", 10)
	if err != nil {
		return err
	}
	heartbeat, err := seconds(-1, "PREFECT_WORKER_HEARTBEAT_SECONDS", 30)
	if err != nil {
		return err
	}
	prefetch, err := seconds(o.prefetch, "PREFECT_WORKER_PREFETCH_SECONDS", 10)
	if err != nil {
		return err
	}
	budget := awsclient.DefaultBudget()
	if o.awsBudget != "" {
		if err := parseBudget(o.awsBudget, budget); err != nil {
			return err
		}
	}
	for flag, d := range map[string]time.Duration{"--shutdown-timeout": o.shutdownTimeout, "--aws-attempt-timeout": o.awsAttemptTimeout, "--aws-call-timeout": o.awsCallTimeout, "--aws-unhealthy-after": o.awsUnhealthyAfter} {
		if d <= 0 {
			return clikit.Invalid("%s %s: give a positive duration, e.g. 30s or 5m", flag, d)
		}
	}
	if o.awsCallTimeout < o.awsAttemptTimeout {
		return clikit.Invalid("--aws-call-timeout %s is shorter than --aws-attempt-timeout %s: a call would never get a whole attempt; raise --aws-call-timeout", o.awsCallTimeout, o.awsAttemptTimeout)
	}
	factory := awsclient.NewFactory(awsclient.FactoryOptions{
		MaxAttempts: o.awsMaxAttempts, Budget: awsclient.NewBudget(budget), Version: buildinfo.String(),
		Timeouts:    awsclient.CallTimeouts{Attempt: o.awsAttemptTimeout, Total: o.awsCallTimeout},
		Permissions: awserr.PermissionOptions{Logger: logger},
	})

	var w *worker.Worker
	w, err = worker.New(worker.Config{
		Pool: o.pool, Queues: o.queues, Name: o.name,
		Limit: o.limit, MaxInFlight: o.maxInFlight,
		QueryInterval: query, HeartbeatInterval: heartbeat, Prefetch: prefetch,
		ShutdownTimeout: o.shutdownTimeout, AWSUnhealthyAfter: o.awsUnhealthyAfter,
		RunOnce: o.runOnce, CreatePool: !o.noCreatePool,
		EventStream:  !o.noEventStream,
		EventsQueue:  cmp.Or(o.eventsQueue, lookupOr(settings, "PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME", "")),
		DefaultImage: o.defaultImage,
		Logger:       logger,
		OnStarted:    func() { fmt.Fprintf(stderr, "Worker '%s' started!\n", w.Name()) },
	}, client, factory)
	if err != nil {
		return clikit.Invalid("%v", err)
	}

	ctx := cmd.Context()
	if err := serveHealthAndMetrics(ctx, o, settings, w, logger); err != nil {
		return err
	}
	// Nothing is said to have started before the API answered and the
	// pool was read (OnStarted): a wrong URL, TLS setting or key is
	// reported now, with its fix.
	if err := client.Check(ctx); err != nil {
		return &clikit.CodedError{Code: clikit.ExitError, Err: err}
	}
	stopMetrics, err := startEMF(ctx, format, o, w, stdout, logger)
	if err != nil {
		return err
	}
	err = w.Run(ctx)
	stopMetrics() // after the run, so that the last minute's records count its last reports
	if err != nil {
		return &clikit.CodedError{Code: clikit.ExitError, Err: err}
	}
	fmt.Fprintf(stderr, "Worker '%s' stopped!\n", w.Name())
	return nil
}

// ecsMetadataEnv is set by the ECS agent in every container of a task (on
// Fargate and EC2): its presence says the worker runs on ECS, where the
// log stream goes to CloudWatch Logs.
const ecsMetadataEnv = "ECS_CONTAINER_METADATA_URI_V4"

// metricsFormat is --metrics-format, or its default: emf on ECS, where
// the logs reach CloudWatch and nothing scrapes /metrics unless the team
// runs Prometheus, else prometheus (/metrics when --metrics-addr is set).
func metricsFormat(o workerOptions, lookup func(string) (string, bool)) (string, error) {
	format := o.metricsFormat
	if format == "" {
		if _, onECS := lookup(ecsMetadataEnv); !onECS {
			return "prometheus", nil
		}
		format = "emf"
	}
	switch format {
	case "emf":
		if err := emf.CheckNamespace(o.emfNamespace); err != nil {
			return "", clikit.Invalid("%v", err)
		}
	case "prometheus":
		if o.metricsAddr == "" {
			return "", clikit.Invalid("--metrics-format prometheus: give --metrics-addr (e.g. :9090) for /metrics to be served")
		}
	case "none":
		if o.metricsAddr != "" {
			return "", clikit.Invalid("--metrics-format none with --metrics-addr %s: drop one of them", o.metricsAddr)
		}
	default:
		return "", clikit.Invalid("--metrics-format %q: use emf, prometheus or none", format)
	}
	return format, nil
}

// startEMF writes the worker's metrics as EMF records to out once a minute
// when the format is emf; the function it returns writes the last records
// and returns once they are written.
func startEMF(ctx context.Context, format string, o workerOptions, w *worker.Worker, out io.Writer, log *slog.Logger) (func(), error) {
	if format != "emf" {
		return func() {}, nil
	}
	exp, err := emf.New(emf.Options{
		Gatherer: w.Metrics().Registry, Out: out, Namespace: o.emfNamespace,
		Dimensions: []emf.Dimension{{Name: "pool", Value: o.pool}},
	})
	if err != nil {
		return nil, clikit.Invalid("%v", err)
	}
	log.Info("writing metrics as CloudWatch EMF records to stdout, once a minute", "namespace", o.emfNamespace)
	// Not ctx: the last flush comes after the worker's shutdown.
	emfCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	warn := func(err error) { log.Warn("some metrics cannot be written as EMF", "err", err) }
	go func() { done <- exp.Run(emfCtx, warn) }()
	return func() {
		stop()
		if err := <-done; err != nil {
			warn(err)
		}
	}, nil
}

// lockedWriter serializes writes to writers that share mu, so that a log
// line and an EMF record written at once are never interleaved.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// serveHealthAndMetrics serves /health (--with-healthcheck) and /metrics
// (--metrics-addr), on one listener when they name the same address
// (":8080", "0.0.0.0:8080" and "[::]:8080" are the same address).
func serveHealthAndMetrics(ctx context.Context, o workerOptions, settings func(string) (string, bool), w *worker.Worker, log *slog.Logger) error {
	// Uncompressed: the page is a few kilobytes, and each gzip writer a
	// scrape takes holds over a megabyte until the GC empties its pool.
	metrics := promhttp.HandlerFor(w.Metrics().Registry, promhttp.HandlerOpts{DisableCompression: true})
	if o.heapProfile {
		metrics = withHeapProfile(metrics)
	}
	healthAddr := ""
	if o.healthcheck {
		healthAddr = o.healthAddr
		if healthAddr == "" {
			healthAddr = net.JoinHostPort(lookupOr(settings, "PREFECT_WORKER_WEBSERVER_HOST", "0.0.0.0"), lookupOr(settings, "PREFECT_WORKER_WEBSERVER_PORT", "8080"))
		}
		mux := http.NewServeMux()
		mux.Handle("/health", w.HealthHandler())
		what := "health check"
		if o.metricsAddr != "" && sameListenAddr(o.metricsAddr, healthAddr) {
			mux.Handle("/metrics", metrics)
			if o.heapProfile {
				mux.Handle("/debug/pprof/heap", metrics)
			}
			what = "health check and metrics"
		}
		if err := serveBackground(ctx, healthAddr, mux, log, what); err != nil {
			return err
		}
	}
	if o.metricsAddr != "" && (healthAddr == "" || !sameListenAddr(o.metricsAddr, healthAddr)) {
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics)
		if o.heapProfile {
			mux.Handle("/debug/pprof/heap", metrics)
		}
		return serveBackground(ctx, o.metricsAddr, mux, log, "metrics")
	}
	return nil
}

// sameListenAddr reports whether two listen addresses are one socket: the
// same port, and hosts that are equal or both "every interface".
func sameListenAddr(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return a == b
	}
	any := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return pa == pb && (ha == hb || any(ha) && any(hb))
}

func serveBackground(ctx context.Context, addr string, h http.Handler, log *slog.Logger, what string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return clikit.Invalid("%s address %s: %v", what, addr, err)
	}
	log.Info("serving "+what, "addr", ln.Addr().String())
	go func() {
		if err := clikit.ServeUntilDone(ctx, ln, h); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(what+" server stopped", "err", err)
		}
	}()
	return nil
}

func lookupOr(lookup func(string) (string, bool), name, def string) string {
	if v, ok := lookup(name); ok {
		return v
	}
	return def
}

// parseBudget reads "Action=rate:burst,..." into the budget.
func parseBudget(spec string, into awsclient.BudgetConfig) error {
	for _, part := range strings.Split(spec, ",") {
		action, rb, ok := strings.Cut(strings.TrimSpace(part), "=")
		r, b, ok2 := strings.Cut(rb, ":")
		rate, err1 := strconv.ParseFloat(r, 64)
		burst, err2 := strconv.Atoi(b)
		if !ok || !ok2 || err1 != nil || err2 != nil || rate <= 0 || burst < 1 {
			return clikit.Invalid("--aws-budget %q: write Action=rate:burst, e.g. RunTask=20:100", part)
		}
		if !strings.Contains(action, ":") {
			// A bare action is an ECS action, and must replace the
			// default's qualified entry rather than sit beside it.
			action = "ecs:" + action
		}
		into[action] = awsclient.Bucket{Rate: rate, Burst: burst}
	}
	return nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lvl = slog.LevelDebug
	case "info", "":
		lvl = slog.LevelInfo
	case "warn", "warning":
		lvl = slog.LevelWarn
	case "error", "critical":
		lvl = slog.LevelError
	default:
		return nil, clikit.Invalid("log level %q: use debug, info, warning or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, clikit.Invalid("--log-format %q: use text or json", format)
}

// redactHandler masks the worker's secrets in every log record, whatever
// message or attribute carries them (an error echoing a request, say).
type redactHandler struct {
	slog.Handler
	secrets *redact.Redactor
}

func (h *redactHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.secrets.String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.Handler.Handle(ctx, out)
}

func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.secrets.String(v.String()))
	case slog.KindGroup:
		var attrs []any
		for _, g := range v.Group() {
			attrs = append(attrs, h.attr(g))
		}
		return slog.Group(a.Key, attrs...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.secrets.String(err.Error()))
		}
		return slog.String(a.Key, h.secrets.String(fmt.Sprint(v.Any())))
	}
	return a
}

func (h *redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return &redactHandler{Handler: h.Handler.WithAttrs(clean), secrets: h.secrets}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{Handler: h.Handler.WithGroup(name), secrets: h.secrets}
}

// withHeapProfile answers /debug/pprof/heap with the heap profile taken
// after a GC, so that it shows what is live, and everything else with next.
func withHeapProfile(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/pprof/heap" {
			next.ServeHTTP(w, r)
			return
		}
		runtime.GC()
		w.Header().Set("Content-Type", "application/octet-stream")
		_ = pprof.Lookup("heap").WriteTo(w, 0) // the client sees a truncated profile
	})
}
