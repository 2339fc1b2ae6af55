// Command bench measures the ECS worker against the Prefect and AWS test
// servers and writes docs/benchmarks.md:
//
//	go run ./bench                       # full size (about 11 minutes on 2 cores)
//	go run ./bench -quick                # small sizes, for CI (under a minute)
//	go run ./bench -sizes 100,1000 -out docs/benchmarks.md
//	go run ./bench -quick -json -        # every figure as JSON on standard output
//	go run ./bench -only replicas -no-wall   # one kind of scenario alone
//	go run ./bench -only starts -quick   # start phases of a scripted mix
//
// It prints a summary of the goals, one line each; the report has every
// table, and -json every figure.
//
// Pacing and call counts are simulated in fake time (testing/synctest, in a
// test binary this command builds, since only tests can make synctest
// bubbles); memory and start-up are measured on the wall clock, with the
// worker running as its own process (`ecsworker worker start`, built here)
// against the test servers served over loopback. See docs/benchmarks.md.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ecsworker/ecsworker/bench/internal/report"
	"github.com/ecsworker/ecsworker/bench/internal/spec"
	"github.com/ecsworker/ecsworker/bench/internal/workerproc"
)

// options are the command's flags: the settings the report shows, and
// how the run is carried out.
type options struct {
	report.Settings
	restartLimit   time.Duration
	startupSamples int
	parallel       int
	out, jsonOut   string
	profileDir     string
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	sizes := fs.String("sizes", "100,1000,10000", "runs scheduled at once in the submission scenarios")
	memSizes := fs.String("mem-sizes", "1000,10000", "runs in flight for the memory scenarios")
	fs.IntVar(&o.Deployments, "deployments", 500, "distinct deployments arriving at once (task definition registrations)")
	fs.IntVar(&o.RestartDeployments, "restart-deployments", 20, "deployments in the worker-restart scenario")
	fs.IntVar(&o.LatencyRuns, "latency-runs", 200, "runs arriving one by one in the latency scenarios")
	fs.IntVar(&o.Replicas, "replicas", 3, "workers serving one pool together in the replicas scenario (0: skip it)")
	fs.IntVar(&o.ReplicaRuns, "replica-runs", 1000, "runs scheduled at once in the replicas scenario")
	fs.IntVar(&o.StartRuns, "start-runs", 1000, "runs of the scripted start mix in the starts scenario (0: skip it)")
	fs.Float64Var(&o.StartGap, "start-gap", 0.25, "mean seconds between two runs of the starts scenario (exponential)")
	only := fs.String("only", "", "simulate only the scenarios of these kinds (comma-separated: submit, latency, deployments, restart, replicas, starts); no report unless -out is given")
	fs.Float64Var(&o.MeanGap, "mean-gap", 5, "mean seconds between two runs of the latency scenarios")
	fs.StringVar(&o.AWSLatency, "aws-latency", "20ms-60ms", "latency of each AWS call, MIN-MAX")
	fs.StringVar(&o.PrefectLatency, "prefect-latency", "10ms-50ms", "latency of each Prefect API call, MIN-MAX")
	fs.Float64Var(&o.TrackWindow, "track-window", 60, "seconds of tracking watched once every run is in flight")
	fs.DurationVar((*time.Duration)(&o.Hold), "hold", 25*time.Second, "how long the worker keeps every run in flight before its memory is read")
	fs.DurationVar(&o.restartLimit, "restart-limit", 2*time.Minute, "longest wait for a restarted worker's first poll")
	fs.IntVar(&o.startupSamples, "startup-samples", 5, "worker starts timed per latency setting")
	fs.IntVar(&o.parallel, "parallel", runtime.NumCPU(), "fake-time scenarios simulated at once")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of latencies, arrivals and the fakes' ids")
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "write the report here (empty: do not)")
	fs.StringVar(&o.jsonOut, "json", "", "write every figure as JSON to `FILE` (- for standard output; the summary then goes to standard error)")
	fs.BoolVar(&o.Quick, "quick", false, "small sizes, for CI: under a minute")
	fs.BoolVar(&o.NoWall, "no-wall", false, "skip the wall-clock scenarios (memory, start-up, deployments, restart)")
	fs.StringVar(&o.profileDir, "heap-profiles", "", "keep the worker's heap profiles of the memory scenarios in `DIR` (heap-N.pb.gz, for go tool pprof)")
	workerEnv := fs.String("worker-env", "", "add `KEY=VALUE,...` to the worker process's environment in the wall-clock measurements (e.g. GOGC=50)")
	memoryOnly := fs.Bool("memory-only", false, "only the worker-process measurements: start-up and memory (no report unless -out is given)")
	render := fs.String("render", "", "measure nothing: write the report from the JSON of an earlier run (-json)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.Quick {
		quick := map[string]func(){
			"sizes":               func() { *sizes = "100" },
			"mem-sizes":           func() { *memSizes = "200" },
			"deployments":         func() { o.Deployments = 20 },
			"restart-deployments": func() { o.RestartDeployments = 5 },
			"latency-runs":        func() { o.LatencyRuns = 40 },
			"replica-runs":        func() { o.ReplicaRuns = 100 },
			"start-runs":          func() { o.StartRuns = 100 },
			"track-window":        func() { o.TrackWindow = 30 },
			"hold":                func() { o.Hold = report.Seconds(11 * time.Second) },
			"restart-limit":       func() { o.restartLimit = 20 * time.Second },
			"startup-samples":     func() { o.startupSamples = 3 },
			// Small sizes say little: no report unless asked for.
			"out": func() { o.out = "" },
		}
		for name, apply := range quick {
			if !set[name] {
				apply()
			}
		}
	}
	var err error
	if o.Sizes, err = intList(*sizes); err != nil {
		return fmt.Errorf("-sizes: %w", err)
	}
	if o.MemSizes, err = intList(*memSizes); err != nil {
		return fmt.Errorf("-mem-sizes: %w", err)
	}
	for _, l := range []string{o.AWSLatency, o.PrefectLatency} {
		if _, _, err := spec.LatencyRange(l); err != nil {
			return err
		}
	}
	o.parallel = max(1, o.parallel)
	if *workerEnv != "" {
		for _, kv := range strings.Split(*workerEnv, ",") {
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				return fmt.Errorf("-worker-env: %q is not KEY=VALUE", kv)
			}
			o.WorkerEnv = append(o.WorkerEnv, kv)
		}
	}
	if (*memoryOnly || *only != "") && !set["out"] {
		o.out = "" // a partial report would replace the full one
	}
	kinds := map[string]bool{}
	for k := range strings.SplitSeq(*only, ",") {
		if k = strings.TrimSpace(k); k != "" {
			switch k {
			case spec.KindSubmit, spec.KindLatency, spec.KindDeployments, spec.KindRestart, spec.KindReplicas, spec.KindStarts:
				kinds[k] = true
			default:
				return fmt.Errorf("-only %q: unknown scenario kind %q; use submit, latency, deployments, restart, replicas or starts", *only, k)
			}
		}
	}
	if len(kinds) > 0 {
		o.NoWall = true // the worker-process measurements are not a scenario kind
	}
	if *render != "" {
		return renderFrom(*render, o.out, stdout)
	}
	summaryOut := stdout
	if o.jsonOut == "-" {
		summaryOut = stderr
	}

	began := time.Now()
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "ecsworker-bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(tmp) }() // best effort: a leftover temp dir harms nothing

	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "[%6.1fs] %s\n", time.Since(began).Seconds(), fmt.Sprintf(format, args...))
	}
	// The commit is read before building: others may commit while the
	// bench runs, and the figures are those of what was built.
	mach := report.DescribeMachine(root)
	logf("building the simulation (go test -c ./bench) and the worker (go build ./cmd/ecsworker) at %s", mach.Commit)
	testBin := filepath.Join(tmp, "faketime.test")
	workerBin := filepath.Join(tmp, "ecsworker")
	if !*memoryOnly {
		if err := goCmd(root, "test", "-c", "-o", testBin, "./bench"); err != nil {
			return err
		}
	}
	if !o.NoWall {
		// Built as releases are (Dockerfile): static, no symbol tables.
		if err := goCmdEnv(root, []string{"CGO_ENABLED=0"}, "build", "-trimpath", "-ldflags=-s -w", "-o", workerBin, "./cmd/ecsworker"); err != nil {
			return err
		}
		if fi, err := os.Stat(workerBin); err == nil {
			mach.BinaryMB = float64(fi.Size()) / (1 << 20)
		}
	}

	// The fake-time simulations take the CPUs; the wall-clock deployments
	// scenario mostly waits for its token buckets, so it runs alongside
	// them, and alongside the start-up and memory measurements, which come
	// once the CPUs are free again.
	var fake, wall []spec.Scenario
	scenarios := plan(o)
	if len(kinds) > 0 {
		scenarios = slices.DeleteFunc(scenarios, func(sc spec.Scenario) bool { return !kinds[sc.Kind] })
	}
	if *memoryOnly {
		scenarios, o.NoWall = nil, false
	}
	for _, sc := range scenarios {
		if sc.Clock == "wall" {
			wall = append(wall, sc)
		} else {
			fake = append(fake, sc)
		}
	}
	var results []spec.Result
	var mu sync.Mutex
	collect := func(rs ...spec.Result) {
		mu.Lock()
		results = append(results, rs...)
		mu.Unlock()
	}
	var background sync.WaitGroup
	background.Go(func() { collect(runSimulations(testBin, tmp, wall, len(wall)+1, logf)...) })
	collect(runSimulations(testBin, tmp, fake, o.parallel, logf)...)
	if !o.NoWall {
		logf("wall clock: start-up and memory of the worker process")
		rs, err := wallClock(o, workerBin, tmp, logf)
		if err != nil {
			return err
		}
		collect(rs...)
	}
	background.Wait()
	sortResults(results)

	rep := report.Report{Settings: o.Settings, Results: results, Machine: mach, Took: time.Since(began)}
	rep.Machine.LoadAverage = report.LoadAverage()
	b, err := json.MarshalIndent(saved{Machine: rep.Machine, Settings: o.Settings, TookSeconds: rep.Took.Seconds(), Results: results}, "", "  ")
	if err != nil {
		return err
	}
	switch o.jsonOut {
	case "":
	case "-":
		fmt.Fprintf(stdout, "%s\n", b)
	default:
		if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	reportPath := ""
	if o.out != "" {
		reportPath = o.out
		if !filepath.IsAbs(reportPath) {
			reportPath = filepath.Join(root, reportPath)
		}
		if err := os.WriteFile(reportPath, []byte(rep.Markdown()), 0o644); err != nil {
			return err
		}
		logf("wrote %s", reportPath)
	}
	logf("done")
	fmt.Fprint(summaryOut, rep.Summary(reportPath, dataPath(o.jsonOut)))
	return nil
}

// plan lists the simulated scenarios, the longest first so that parallel
// processes finish together.
func plan(o options) []spec.Scenario {
	base := spec.Scenario{AWSLatency: o.AWSLatency, PrefectLatency: o.PrefectLatency, Seed: o.Seed, Clock: "fake"}
	var out []spec.Scenario
	for _, n := range o.Sizes {
		for _, c := range []struct{ config, trigger string }{{spec.ConfigOurs, spec.TriggerStream}, {spec.ConfigPython, spec.TriggerPoll}} {
			s := base
			s.Kind, s.Config, s.Trigger, s.N = spec.KindSubmit, c.config, c.trigger, n
			s.TrackWindowSeconds = o.TrackWindow
			// Ten times the bound, and at least ten minutes.
			s.LimitSeconds = max(600, 10*spec.BoundFor("ecs:RunTask", n).Seconds)
			out = append(out, s)
		}
	}
	for _, c := range []struct{ config, trigger string }{{spec.ConfigOurs, spec.TriggerStream}, {spec.ConfigOurs, spec.TriggerPoll}, {spec.ConfigPython, spec.TriggerPoll}} {
		s := base
		s.Kind, s.Config, s.Trigger, s.N = spec.KindLatency, c.config, c.trigger, o.LatencyRuns
		s.MeanGapSeconds, s.LimitSeconds = o.MeanGap, 600
		out = append(out, s)
	}
	for _, c := range []string{spec.ConfigOurs, spec.ConfigPython} {
		s := base
		s.Kind, s.Config, s.Trigger, s.N = spec.KindRestart, c, spec.TriggerStream, o.RestartDeployments
		s.LimitSeconds = 600
		// Registrations in several families at once: see deployments.
		s.Clock = "wall"
		out = append(out, s)
	}
	if o.Replicas > 0 && o.ReplicaRuns > 0 {
		s := base
		s.Kind, s.Config, s.Trigger, s.N, s.Replicas = spec.KindReplicas, spec.ConfigOurs, spec.TriggerStream, o.ReplicaRuns, o.Replicas
		s.LimitSeconds = max(600, 10*spec.BoundFor("ecs:RunTask", o.ReplicaRuns).Seconds)
		out = append(out, s)
	}
	if o.StartRuns > 0 {
		s := base
		s.Kind, s.Config, s.Trigger, s.N = spec.KindStarts, spec.ConfigOurs, spec.TriggerStream, o.StartRuns
		s.MeanGapSeconds = o.StartGap
		// The arrivals, the slowest start (a minute), the flow's run and
		// the worker's look at its stopped task, with room to spare.
		s.LimitSeconds = float64(o.StartRuns)*o.StartGap + 600
		out = append(out, s)
	}
	if !o.NoWall && o.Deployments > 0 {
		for _, c := range []struct{ config, trigger string }{{spec.ConfigOurs, spec.TriggerStream}, {spec.ConfigPython, spec.TriggerPoll}} {
			s := base
			s.Kind, s.Config, s.Trigger, s.N = spec.KindDeployments, c.config, c.trigger, o.Deployments
			s.Clock = "wall"
			s.LimitSeconds = max(120, 3*spec.BoundFor("ecs:RegisterTaskDefinition", o.Deployments).Seconds)
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b spec.Scenario) int { return costOf(b) - costOf(a) })
	return out
}

// costOf ranks scenarios by the CPU they take to simulate; wall-clock ones
// take little CPU but long, so they start first.
func costOf(s spec.Scenario) int {
	if s.Clock == "wall" {
		return 1 << 30
	}
	return s.N * max(1, s.Replicas)
}

// runSimulations runs each scenario in its own process of the test binary,
// parallel at a time, from dir.
func runSimulations(bin, dir string, scenarios []spec.Scenario, parallel int, logf func(string, ...any)) []spec.Result {
	var (
		mu      sync.Mutex
		results []spec.Result
		wg      sync.WaitGroup
		slots   = make(chan struct{}, parallel)
	)
	for _, sc := range scenarios {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			logf("simulating %s (%s clock)", sc.Name(), sc.Clock)
			r := simulate(bin, dir, sc)
			if r.Error != "" {
				logf("%s: %s", sc.Name(), r.Error)
			} else {
				logf("%s done in %.1fs of wall time", sc.Name(), r.WallSeconds)
			}
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return results
}

func simulate(bin, dir string, sc spec.Scenario) spec.Result {
	fail := func(err error) spec.Result {
		return spec.Result{Scenario: sc, Name: sc.Name(), Clock: sc.Clock, Error: err.Error()}
	}
	specJSON, err := json.Marshal([]spec.Scenario{sc})
	if err != nil {
		return fail(err)
	}
	f, err := os.CreateTemp(dir, "result-*.json")
	if err != nil {
		return fail(err)
	}
	_ = f.Close() // empty: it only reserves the name for the child's result
	out := f.Name()
	// A fake-time scenario that stops fake time (a goroutine waiting on a
	// sync.Mutex held across a wait, see deployments) would otherwise hang
	// for good: the test binary's own timeout ends it, with a stack dump.
	timeout := time.Duration(sc.LimitSeconds*float64(time.Second)) + 10*time.Minute
	if sc.Clock != "wall" {
		timeout = 20 * time.Minute
	}
	cmd := exec.Command(bin, "-test.run", "^TestFakeTime$", "-test.timeout", timeout.String(), "-test.count", "1")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BENCH_SPEC="+string(specJSON), "BENCH_OUT="+out)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fail(fmt.Errorf("%w: %s", err, lastLines(buf.String(), 20)))
	}
	var rs []spec.Result
	b, err := os.ReadFile(out)
	if err == nil {
		err = json.Unmarshal(b, &rs)
	}
	if err != nil || len(rs) != 1 {
		return fail(fmt.Errorf("no result (%v): %s", err, lastLines(buf.String(), 20))) //nolint:errorlint // err may be nil here, which %w would print as %!w(<nil>)
	}
	return rs[0]
}

// wallClock runs the start-up and memory scenarios.
func wallClock(o options, bin, tmp string, logf func(string, ...any)) ([]spec.Result, error) {
	e, err := workerproc.NewEnv(o.AWSLatency, o.PrefectLatency, o.Seed, tmp)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	if o.profileDir != "" {
		// Made before an hour of measuring, not found missing after it.
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return nil, fmt.Errorf("-heap-profiles %s: %w", o.profileDir, err)
		}
	}
	e.ProfileDir, e.WorkerEnv = o.profileDir, o.WorkerEnv
	var out []spec.Result
	// The first start creates the pool; it is not timed.
	_ = e.TimeStartup(bin, "bench-start", 30*time.Second, 1)
	logf("start-up floor: ecsworker version, exec to exit")
	began := time.Now()
	floor, err := e.TimeVersion(bin, o.startupSamples)
	out = append(out, wallResult("startup/ecsworker/version", floor, err, began))
	for _, lat := range []string{"0", o.PrefectLatency} {
		if err := e.SetPrefectLatency(lat, o.Seed+1); err != nil {
			return nil, err
		}
		logf("start-up to first poll, Prefect latency %s", lat)
		began := time.Now()
		st := e.TimeStartup(bin, "bench-start", 30*time.Second, o.startupSamples)
		out = append(out, spec.Result{Name: "startup/ecsworker/prefect-latency-" + lat, Clock: "wall", Startup: st, WallSeconds: time.Since(began).Seconds()})
	}
	logf("package initialisation of worker start (GODEBUG=inittrace=1)")
	began = time.Now()
	inits, err := e.TimeInit(bin, "bench-start", 30*time.Second, o.startupSamples)
	out = append(out, wallResult("startup/ecsworker/init", inits, err, began))
	if err := e.SetPrefectLatency(o.PrefectLatency, o.Seed+1); err != nil {
		return nil, err
	}
	for _, n := range o.MemSizes {
		logf("memory with %d runs in flight, then a restart", n)
		began := time.Now()
		mem, restart := e.MemoryRun(bin, n, time.Duration(o.Hold), o.restartLimit)
		restart.WallSeconds = time.Since(began).Seconds() - mem.WallSeconds
		if mem.Error != "" {
			logf("memory-%d: %s", n, mem.Error)
		}
		out = append(out, mem, restart)
	}
	return out, nil
}

// wallResult is a start-up measurement as a result; err fails it.
func wallResult(name string, st *spec.Startup, err error, began time.Time) spec.Result {
	res := spec.Result{Name: name, Clock: "wall", Startup: st, WallSeconds: time.Since(began).Seconds()}
	if err != nil {
		res.Error = err.Error()
	}
	return res
}

func sortResults(rs []spec.Result) {
	order := map[string]int{spec.KindSubmit: 0, spec.KindReplicas: 1, spec.KindLatency: 2, spec.KindDeployments: 3, spec.KindRestart: 4, spec.KindStarts: 5, "": 6}
	slices.SortStableFunc(rs, func(a, b spec.Result) int {
		if d := order[a.Scenario.Kind] - order[b.Scenario.Kind]; d != 0 {
			return d
		}
		if d := a.Scenario.N - b.Scenario.N; d != 0 {
			return d
		}
		return strings.Compare(a.Name, b.Name)
	})
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ReplaceAll(f, "_", ""))
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w (run the bench from the repository: go run ./bench)", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the ecsworker module: run the bench from the repository (go run ./bench)")
	}
	return filepath.Dir(mod), nil
}

func goCmd(dir string, args ...string) error { return goCmdEnv(dir, nil, args...) }

func goCmdEnv(dir string, env []string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, buf.String())
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// saved is the JSON the bench writes, and -render reads.
type saved struct {
	Machine     report.Machine  `json:"machine"`
	Settings    report.Settings `json:"settings"`
	TookSeconds float64         `json:"took_seconds"`
	Results     []spec.Result   `json:"results"`
}

// renderFrom writes the report of an earlier run: the figures are that
// run's, the layout today's.
func renderFrom(path, out string, stdout io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var sv saved
	if err := json.Unmarshal(b, &sv); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rep := report.Report{Settings: sv.Settings, Results: sv.Results, Machine: sv.Machine, Took: time.Duration(sv.TookSeconds * float64(time.Second))}
	if out != "" {
		if !filepath.IsAbs(out) {
			if root, err := moduleRoot(); err == nil {
				out = filepath.Join(root, out)
			}
		}
		if err := os.WriteFile(out, []byte(rep.Markdown()), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprint(stdout, rep.Summary(out, path))
	return nil
}

// dataPath is where the summary says the JSON went.
func dataPath(jsonOut string) string {
	if jsonOut == "-" {
		return "standard output"
	}
	return jsonOut
}
