// Package sandbox runs ecsworker end to end on one machine without AWS or
// Prefect: the Prefect API test server, the AWS test server and the real
// worker (real Prefect client, real AWS SDK clients) on 127.0.0.1, a set
// of demo flow runs with scripted outcomes, and the part of the flow
// engine that would run inside each container. It is what `ecsworker
// sandbox` shows, and a smoke test of the whole chain.
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/redact"
	"github.com/ecsworker/ecsworker/internal/sandbox/sandboxreport"
	"github.com/ecsworker/ecsworker/internal/worker"
)

// Names of what the sandbox creates, so that other tools can be pointed at
// them while it keeps running.
const (
	PoolName       = "sandbox-pool"
	FlowName       = "sandbox-flow"
	DeploymentName = "demo"
	ClusterName    = "sandbox"
	WorkerName     = "ecsworker-sandbox"
	Region         = "us-east-1"
)

// Speed limits: slower than 0.1 is pointless, and faster than 20 makes
// the scripted task lifetimes shorter than the engine's polling.
const (
	MinSpeed = 0.1
	MaxSpeed = 20
)

// Options configure Run.
type Options struct {
	// Runs is the number of demo flow runs, cycling through Scenarios();
	// 0 means one per scenario.
	Runs int
	// KeepRunning leaves the servers and the worker up after the demo,
	// until ctx ends.
	KeepRunning bool
	// Out gets the report (the JSON summary with JSON); Err gets progress
	// with JSON. nil discards.
	Out, Err io.Writer
	JSON     bool
	// Speed divides the scripted durations and the worker's intervals;
	// 0 means 1. The simulated ECS's own fixed delays (10 s to release a
	// Fargate task's network interface) and RunTask's capacity backoff
	// do not scale.
	Speed float64
}

// Run starts the servers and the worker, plays the demo and reports it. It
// returns an error when the sandbox could not be set up or ctx ended
// before the demo did; runs that ended otherwise than expected are in
// the Summary's Mismatches (and its OK is false).
func Run(ctx context.Context, o Options) (sandboxreport.Summary, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Err == nil {
		o.Err = io.Discard
	}
	if o.Speed == 0 {
		o.Speed = 1
	}
	if !(o.Speed >= MinSpeed && o.Speed <= MaxSpeed) { // NaN too
		return sandboxreport.Summary{}, fmt.Errorf("speed %g: choose between %g and %g", o.Speed, float64(MinSpeed), float64(MaxSpeed))
	}
	if o.Runs < 0 {
		return sandboxreport.Summary{}, fmt.Errorf("runs %d: give a positive number of flow runs", o.Runs)
	}
	if o.Runs == 0 {
		o.Runs = len(scenarios)
	}
	s := &sandbox{opts: o, began: time.Now(), wake: make(chan struct{}, 1)}
	s.secrets = secretSet{
		akid:     "AKIASANDBOX" + strings.ToUpper(randomHex(5))[:9],
		secret:   "sandbox-secret-" + randomHex(16),
		password: "sandbox-password-" + randomHex(12),
	}
	human := o.Out
	if o.JSON {
		human = o.Err
	}
	s.human = &redactWriter{w: human, secrets: s.secrets.list()}
	s.data = &redactWriter{w: o.Out, secrets: s.secrets.list()}

	defer s.close()
	if err := s.setUp(ctx); err != nil {
		return sandboxreport.Summary{}, err
	}
	s.createRuns()
	s.printHeader()
	playErr := s.play(ctx)
	s.interrupted = playErr != nil
	sum := s.summarize()
	sandboxreport.Print(s.human, sum)
	if o.JSON {
		b, _ := json.MarshalIndent(sum, "", "  ")
		fmt.Fprintf(s.data, "%s\n", b)
	}
	if playErr != nil {
		return sum, playErr
	}
	if o.KeepRunning {
		s.keepRunning(ctx)
	}
	return sum, nil
}

type secretSet struct{ akid, secret, password string }

// list is what must never be printed. The access key id is no secret in
// AWS's eyes, but it has no reason to be shown either.
func (s secretSet) list() []string { return []string{s.secret, s.password, s.akid} }

type sandbox struct {
	opts    Options
	began   time.Time
	secrets secretSet
	human   io.Writer // the report and progress for people
	data    io.Writer // Out: the JSON summary

	prefect     *prefectfake.Server
	prefectHTTP *http.Server
	prefectURL  string
	aws         *awsfake.Server
	awsURL      string
	rec         *recorder
	api         *prefect.Client
	baseCalls   map[string]int // AWS calls made while setting up
	deployment  string
	cleanups    []func()

	stopWorker context.CancelFunc
	workerDone chan error
	// wake is poked by the worker after each step it takes, so that the
	// engine and the display react at once instead of on the next tick.
	wake chan struct{}

	violations lines
	warnings   warningLog

	runs        []*demoRun
	interrupted bool // ctx ended before the demo did
}

// demoRun is one flow run of the demo, as last observed.
type demoRun struct {
	sc      *Scenario
	id      string
	name    string
	created time.Time

	stateType, stateName, message string
	task                          *awsfake.TaskView // the newest of its tasks
	tasks                         int
	cancelAsked                   bool
}

func (r *demoRun) final() bool { return terminal(r.stateType) }

// settled is a run whose Prefect state is final and whose task, if any,
// is STOPPED: nothing more will happen to it.
func (r *demoRun) settled() bool {
	return r.final() && (r.task == nil || r.task.LastStatus == "STOPPED")
}

func terminal(stateType string) bool {
	switch stateType {
	case "COMPLETED", "FAILED", "CRASHED", "CANCELLED":
		return true
	}
	return false
}

func (s *sandbox) scale(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.opts.Speed)
}

func (s *sandbox) setUp(ctx context.Context) error {
	s.prefect = prefectfake.New(prefectfake.Options{OnViolation: s.violations.add})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("start the Prefect API test server: %w", err)
	}
	s.prefectHTTP = &http.Server{Handler: s.prefect.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go s.prefectHTTP.Serve(ln) //nolint:errcheck // ends with Close
	s.prefectURL = "http://" + ln.Addr().String() + s.prefect.APIPath()

	s.aws = awsfake.New(awsfake.Options{Region: Region, Script: script(s.scale)})
	if s.awsURL, err = s.aws.Listen("127.0.0.1:0"); err != nil {
		return fmt.Errorf("start the AWS test server: %w", err)
	}
	if err := s.setUpCluster(ctx); err != nil {
		return err
	}
	s.baseCalls = s.aws.Calls()

	var tmpl map[string]any
	if err := json.Unmarshal(ecsjob.DefaultTemplateJSON(), &tmpl); err != nil {
		return fmt.Errorf("default base job template: %w", err)
	}
	s.prefect.CreateWorkPool(PoolName, worker.Type, tmpl)
	flow := s.prefect.CreateFlow(FlowName)
	s.deployment = s.prefect.CreateDeployment(flow["id"].(string), DeploymentName, PoolName, "", s.deploymentVariables())["id"].(string)

	s.api, err = prefect.New(prefectconfig.Config{APIURL: s.prefectURL, Timeout: 30 * time.Second, MaxRetries: 3, RetryJitter: 0.2},
		prefectapi.WithHTTPClient(&http.Client{Transport: loopbackTransport()}),
		prefectapi.WithUserAgent(prefectapi.UserAgent(buildinfo.String())))
	if err != nil {
		return fmt.Errorf("Prefect client: %w", err) //nolint:staticcheck // ST1005: Prefect is a name, capitalised in every message
	}
	load, cleanup, err := hermeticAWS()
	if err != nil {
		return fmt.Errorf("AWS client settings: %w", err)
	}
	s.cleanups = append(s.cleanups, cleanup)
	s.rec = &recorder{next: loopbackTransport()}
	factory := awsclient.NewFactory(awsclient.FactoryOptions{
		HTTPClient:   &http.Client{Transport: s.rec},
		BaseEndpoint: s.awsURL,
		LoadOptions:  load,
		Version:      buildinfo.String(),
		Permissions:  awserr.PermissionOptions{Logger: slog.New(&s.warnings)},
	})
	w, err := worker.New(worker.Config{
		Pool: PoolName, Name: WorkerName,
		QueryInterval:     s.interval(time.Second),
		HeartbeatInterval: s.interval(10 * time.Second),
		CancelInterval:    s.interval(time.Second),
		TrackInterval:     s.interval(time.Second),
		ShutdownTimeout:   5 * time.Second,
		DefaultImage:      imageRepo + ":latest",
		Logger:            slog.New(&s.warnings),
		Notify: func(string, string) {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		},
	}, s.api, factory)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopWorker = stop
	s.workerDone = make(chan error, 1)
	go func() { s.workerDone <- w.Run(wctx) }()
	return nil
}

// interval scales a worker interval, with a floor that keeps a fast demo
// from hammering the servers.
func (s *sandbox) interval(d time.Duration) time.Duration {
	return max(s.scale(d), 50*time.Millisecond)
}

// setUpCluster creates the cluster through the ECS API, since only the
// API can give it the Fargate capacity providers that FARGATE_SPOT runs
// need, and adds EC2 instances for the runs that use the EC2 launch type.
func (s *sandbox) setUpCluster(ctx context.Context) error {
	client := ecs.New(ecs.Options{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(s.secrets.akid, s.secrets.secret, ""),
		BaseEndpoint: aws.String(s.awsURL),
		HTTPClient:   &http.Client{Transport: loopbackTransport()},
	})
	_, err := client.CreateCluster(ctx, &ecs.CreateClusterInput{
		ClusterName:       aws.String(ClusterName),
		CapacityProviders: []string{"FARGATE", "FARGATE_SPOT"},
	})
	if err != nil {
		return fmt.Errorf("create the simulated ECS cluster: %w", err)
	}
	s.aws.AddContainerInstances(ClusterName, 2, 4096, 16384)
	return nil
}

// deploymentVariables are the demo deployment's job variables. The AWS
// keys are made up for this sandbox (the simulated AWS takes any), and the
// database password is there to show that secrets are masked.
func (s *sandbox) deploymentVariables() map[string]any {
	env := map[string]any{"DATABASE_PASSWORD": s.secrets.password, "DEMO": "ecsworker sandbox"}
	// The worker passes its process's PREFECT_* settings on to flow runs,
	// as Prefect's workers do. Here they would be the user's settings for
	// a real Prefect, so a null (which removes a variable) keeps each of
	// them out of the simulated containers.
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PREFECT_") && !strings.HasPrefix(k, "PREFECT__") && k != prefectconfig.EnvAPIURL && v != "" {
			env[k] = nil
		}
	}
	return map[string]any{
		"cluster": ClusterName,
		"aws_credentials": map[string]any{
			"aws_access_key_id":     s.secrets.akid,
			"aws_secret_access_key": s.secrets.secret,
			"region_name":           Region,
		},
		"env":    env,
		"labels": map[string]any{"team": "sandbox"},
	}
}

func (s *sandbox) createRuns() {
	for i := range s.opts.Runs {
		sc := &scenarios[i%len(scenarios)]
		vars := map[string]any{"image": sc.image()}
		if sc.vars != nil {
			for k, v := range sc.vars(i/len(scenarios) + 1) {
				vars[k] = v
			}
		}
		fr := s.prefect.CreateFlowRun(s.deployment, vars, time.Time{})
		s.runs = append(s.runs, &demoRun{
			sc: sc, id: fr["id"].(string), name: fr["name"].(string), created: time.Now(),
			stateType: "SCHEDULED", stateName: "Scheduled",
		})
	}
}

// play runs the demo until every run has settled, ctx ends or the demo
// overruns (the runs that did not settle are then reported as
// mismatches). It fails only when ctx ends first.
func (s *sandbox) play(ctx context.Context) error {
	// Generous: a stuck run should be reported, not waited on forever,
	// but a slow machine should not fail the demo.
	deadline := time.Now().Add(60*time.Second + s.scale(2*time.Minute))
	view := newLiveView(s)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		s.step()
		s.flushViolations(view)
		view.update()
		done := true
		for _, r := range s.runs {
			done = done && r.settled()
		}
		if done || time.Now().After(deadline) {
			view.finish()
			return nil
		}
		select {
		case <-ctx.Done():
			view.finish()
			return fmt.Errorf("interrupted before every demo run ended: %w", context.Cause(ctx))
		case <-tick.C:
		case <-s.wake:
		}
	}
}

// step plays the engine for every task, the user for the runs to cancel,
// and refreshes what the demo runs look like.
func (s *sandbox) step() map[string][]awsfake.TaskView {
	byRun := map[string][]awsfake.TaskView{}
	for _, t := range s.aws.Tasks() {
		if id := t.Tags["prefect.io/flow-run-id"]; id != "" {
			byRun[id] = append(byRun[id], t)
		}
	}
	for id, ts := range byRun {
		s.engine(id, ts[len(ts)-1])
	}
	for _, r := range s.runs {
		ts := byRun[r.id]
		if len(ts) > 0 {
			t := ts[len(ts)-1]
			r.task, r.tasks = &t, len(ts)
		}
		s.observe(r)
		s.cancelIfDue(r)
	}
	return byRun
}

func (s *sandbox) observe(r *demoRun) {
	fr := s.prefect.FlowRun(r.id)
	if fr == nil {
		return
	}
	r.name, _ = fr["name"].(string)
	r.stateType, _ = fr["state_type"].(string)
	r.stateName, _ = fr["state_name"].(string)
	if st, ok := fr["state"].(map[string]any); ok {
		r.message, _ = st["message"].(string)
	}
}

// scenarioOfTask tells which scenario a task plays, from the image of its
// task definition, for runs created by hand.
func (s *sandbox) scenarioOfTask(t awsfake.TaskView) *Scenario {
	for _, td := range s.aws.TaskDefinitions() {
		if td.Arn != t.TaskDefinitionArn {
			continue
		}
		var def struct {
			ContainerDefinitions []struct{ Name, Image string } `json:"containerDefinitions"`
		}
		_ = json.Unmarshal(td.JSON, &def)
		for _, c := range def.ContainerDefinitions {
			if c.Name == "prefect" || len(def.ContainerDefinitions) == 1 {
				return scenarioFor(c.Image)
			}
		}
	}
	return scenarioFor("")
}

// cancelIfDue plays a person pressing Cancel in the Prefect UI while ECS
// is still provisioning the run's task.
func (s *sandbox) cancelIfDue(r *demoRun) {
	if r.sc.cancelAfter == 0 || r.cancelAsked || r.task == nil || r.stateType != "PENDING" {
		return
	}
	if time.Since(r.task.CreatedAt) < s.scale(r.sc.cancelAfter) {
		return
	}
	r.cancelAsked = true
	if res := s.prefect.ProposeFlowRunState(r.id, "CANCELLING", "Cancelling"); res["status"] != "ACCEPT" {
		s.prefect.SetFlowRunState(r.id, "CANCELLING", "Cancelling")
	}
	s.observe(r)
}

// engine plays `prefect flow-run execute` inside the run's container: the
// flow reports RUNNING once its task runs and COMPLETED when its process
// exits 0, and a running flow asked to cancel cancels itself (Prefect 3's
// engine watches for CANCELLING; the worker only stops tasks whose flow
// never started). A container killed by ECS reports nothing: the worker
// has to find out, which is what the demo is about.
func (s *sandbox) engine(runID string, t awsfake.TaskView) {
	fr := s.prefect.FlowRun(runID)
	if fr == nil {
		return
	}
	state := func() string { st, _ := fr["state_type"].(string); return st }
	started := t.LastStatus == "RUNNING" || !t.StartedAt.IsZero()
	if state() == "PENDING" && started {
		s.prefect.ProposeFlowRunState(runID, "RUNNING", "Running")
		fr = s.prefect.FlowRun(runID)
	}
	switch {
	case state() == "RUNNING" && exitedZero(t):
		s.prefect.ProposeFlowRunState(runID, "COMPLETED", "Completed")
	case state() == "CANCELLING" && t.LastStatus == "RUNNING":
		s.prefect.ProposeFlowRunState(runID, "CANCELLED", "Cancelled")
	}
}

// exitedZero reports whether the flow's container exited with code 0:
// the one named prefect, or the only one.
func exitedZero(t awsfake.TaskView) bool {
	code, ok := t.ExitCodes["prefect"]
	if !ok && len(t.ExitCodes) == 1 {
		for _, c := range t.ExitCodes {
			code = c
		}
	}
	return code != nil && *code == 0
}

func (s *sandbox) flushViolations(view *liveView) {
	for _, v := range s.violations.take() {
		view.note("Prefect API contract violation: " + v)
	}
}

// keepRunning serves until ctx ends, playing the engine for any run (the
// demo's or one created by hand) and logging what happens to runs that
// were not part of the demo.
func (s *sandbox) keepRunning(ctx context.Context) {
	s.printKeepRunning()
	demo := map[string]bool{}
	for _, r := range s.runs {
		demo[r.id] = true
	}
	others := map[string]*demoRun{}
	printed := map[string]string{}
	view := &liveView{nameW: 22}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		byRun := s.step()
		calls := s.rec.snapshot()
		for _, id := range slices.Sorted(maps.Keys(byRun)) {
			if demo[id] {
				continue
			}
			ts := byRun[id]
			t := ts[len(ts)-1]
			r := others[id]
			if r == nil {
				r = &demoRun{id: id, sc: s.scenarioOfTask(t)}
				others[id] = r
			}
			r.task, r.tasks = &t, len(ts)
			s.observe(r)
			if line := view.row(r, calls, false); printed[id] != line {
				printed[id] = line
				fmt.Fprintf(s.human, "%7s%s\n", elapsed(s.began), line)
			}
		}
		for _, v := range s.violations.take() {
			fmt.Fprintf(s.human, "Prefect API contract violation: %s\n", v)
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(s.human, "\nStopped. That was %s.\n", sandboxreport.Banner)
			return
		case <-tick.C:
		case <-s.wake:
		}
	}
}

// close stops the worker first, so that its last calls still find the
// servers, then the servers.
func (s *sandbox) close() {
	if s.stopWorker != nil {
		s.stopWorker()
		select {
		case <-s.workerDone: //nolint:errcheck // stopped on purpose: the runs' states, not Run's error, are the outcome
		case <-time.After(10 * time.Second):
		}
	}
	if s.aws != nil {
		s.aws.Close()
	}
	if s.prefectHTTP != nil {
		_ = s.prefectHTTP.Close() // shutting down: its connections' errors matter to no one
	}
	if s.prefect != nil {
		s.prefect.Close()
	}
	for _, c := range s.cleanups {
		c()
	}
}

// lines collects what other goroutines report (contract violations)
// until the display takes it.
type lines struct {
	mu    sync.Mutex
	items []string
	all   []string
}

func (l *lines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items = append(l.items, s)
	l.all = append(l.all, s)
}

func (l *lines) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.items
	l.items = nil
	return out
}

func (l *lines) every() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.all...)
}

// warningLog keeps the worker's warnings and errors for the report.
type warningLog struct {
	mu      sync.Mutex
	entries []warning
}

type warning struct{ msg, text string }

func (l *warningLog) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn
}

func (l *warningLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, warning{msg: r.Message, text: b.String()})
	return nil
}

// WithAttrs drops the attributes: the worker only adds its name and pool,
// which the report already shows.
func (l *warningLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *warningLog) WithGroup(string) slog.Handler      { return l }

// except returns the warnings whose message is none of skip: the crash
// reports the worker logs are the runs' final messages, shown already.
func (l *warningLog) except(skip map[string]bool) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.entries {
		if !skip[e.msg] {
			out = append(out, e.text)
		}
	}
	return out
}

// redactWriter masks the sandbox's own secrets in anything written, as a
// last line of defence behind the masking of the requests themselves.
type redactWriter struct {
	w       io.Writer
	secrets []string
}

func (r *redactWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, redact.String(string(p), r.secrets...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
