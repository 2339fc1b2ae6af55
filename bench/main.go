// Command bench measures the ECS worker against the Prefect and AWS test
// servers and writes docs/benchmarks.md:
//
//	go run ./bench                       # full size (about 11 minutes on 2 cores)
//	go run ./bench -quick                # small sizes, for CI (under a minute)
//	go run ./bench -sizes 100,1000 -out docs/benchmarks.md
//	go run ./bench -quick -json -        # every figure as JSON on standard output
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
)

type options struct {
	sizes          []int
	memSizes       []int
	deployments    int
	restartDeps    int
	latencyRuns    int
	meanGap        float64
	awsLatency     string
	prefectLatency string
	trackWindow    float64
	hold           time.Duration
	restartLimit   time.Duration
	startupSamples int
	parallel       int
	seed           uint64
	out, jsonOut   string
	quick, noWall  bool
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
	fs.IntVar(&o.deployments, "deployments", 500, "distinct deployments arriving at once (task definition registrations)")
	fs.IntVar(&o.restartDeps, "restart-deployments", 20, "deployments in the worker-restart scenario")
	fs.IntVar(&o.latencyRuns, "latency-runs", 200, "runs arriving one by one in the latency scenarios")
	fs.Float64Var(&o.meanGap, "mean-gap", 5, "mean seconds between two runs of the latency scenarios")
	fs.StringVar(&o.awsLatency, "aws-latency", "20ms-60ms", "latency of each AWS call, MIN-MAX")
	fs.StringVar(&o.prefectLatency, "prefect-latency", "10ms-50ms", "latency of each Prefect API call, MIN-MAX")
	fs.Float64Var(&o.trackWindow, "track-window", 60, "seconds of tracking watched once every run is in flight")
	fs.DurationVar(&o.hold, "hold", 25*time.Second, "how long the worker keeps every run in flight before its memory is read")
	fs.DurationVar(&o.restartLimit, "restart-limit", 2*time.Minute, "longest wait for a restarted worker's first poll")
	fs.IntVar(&o.startupSamples, "startup-samples", 5, "worker starts timed per latency setting")
	fs.IntVar(&o.parallel, "parallel", runtime.NumCPU(), "fake-time scenarios simulated at once")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of latencies, arrivals and the fakes' ids")
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "write the report here (empty: do not)")
	fs.StringVar(&o.jsonOut, "json", "", "write every figure as JSON to `FILE` (- for standard output; the summary then goes to standard error)")
	fs.BoolVar(&o.quick, "quick", false, "small sizes, for CI: under a minute")
	fs.BoolVar(&o.noWall, "no-wall", false, "skip the wall-clock scenarios (memory, start-up, deployments, restart)")
	render := fs.String("render", "", "measure nothing: write the report from the JSON of an earlier run (-json)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		quick := map[string]func(){
			"sizes":               func() { *sizes = "100" },
			"mem-sizes":           func() { *memSizes = "200" },
			"deployments":         func() { o.deployments = 20 },
			"restart-deployments": func() { o.restartDeps = 5 },
			"latency-runs":        func() { o.latencyRuns = 40 },
			"track-window":        func() { o.trackWindow = 30 },
			"hold":                func() { o.hold = 11 * time.Second },
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
	if o.sizes, err = intList(*sizes); err != nil {
		return fmt.Errorf("-sizes: %w", err)
	}
	if o.memSizes, err = intList(*memSizes); err != nil {
		return fmt.Errorf("-mem-sizes: %w", err)
	}
	for _, l := range []string{o.awsLatency, o.prefectLatency} {
		if _, _, err := latencyRange(l); err != nil {
			return err
		}
	}
	o.parallel = max(1, o.parallel)
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
	mach := describeMachine(root)
	logf("building the simulation (go test -c ./bench) and the worker (go build ./cmd/ecsworker) at %s", mach.Commit)
	testBin := filepath.Join(tmp, "faketime.test")
	workerBin := filepath.Join(tmp, "ecsworker")
	if err := goCmd(root, "test", "-c", "-o", testBin, "./bench"); err != nil {
		return err
	}
	if !o.noWall {
		if err := goCmd(root, "build", "-o", workerBin, "./cmd/ecsworker"); err != nil {
			return err
		}
	}

	// The fake-time simulations take the CPUs; the wall-clock deployments
	// scenario mostly waits for its token buckets, so it runs alongside
	// them, and alongside the start-up and memory measurements, which come
	// once the CPUs are free again.
	var fake, wall []Scenario
	for _, sc := range plan(o) {
		if sc.Clock == "wall" {
			wall = append(wall, sc)
		} else {
			fake = append(fake, sc)
		}
	}
	var results []Result
	var mu sync.Mutex
	collect := func(rs ...Result) {
		mu.Lock()
		results = append(results, rs...)
		mu.Unlock()
	}
	var background sync.WaitGroup
	background.Go(func() { collect(runSimulations(testBin, tmp, wall, len(wall)+1, logf)...) })
	collect(runSimulations(testBin, tmp, fake, o.parallel, logf)...)
	if !o.noWall {
		logf("wall clock: start-up and memory of the worker process")
		rs, err := wallClock(o, workerBin, tmp, logf)
		if err != nil {
			return err
		}
		collect(rs...)
	}
	background.Wait()
	sortResults(results)

	rep := report{opts: o, results: results, machine: mach, took: time.Since(began)}
	rep.machine.LoadAverage = loadAverage()
	b, err := json.MarshalIndent(saved{Machine: rep.machine, Settings: o.settings(), TookSeconds: rep.took.Seconds(), Results: results}, "", "  ")
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
		if err := os.WriteFile(reportPath, []byte(rep.markdown()), 0o644); err != nil {
			return err
		}
		logf("wrote %s", reportPath)
	}
	logf("done")
	fmt.Fprint(summaryOut, rep.summary(reportPath, dataPath(o.jsonOut)))
	return nil
}

// plan lists the simulated scenarios, the longest first so that parallel
// processes finish together.
func plan(o options) []Scenario {
	base := Scenario{AWSLatency: o.awsLatency, PrefectLatency: o.prefectLatency, Seed: o.seed, Clock: "fake"}
	var out []Scenario
	for _, n := range o.sizes {
		for _, c := range []struct{ config, trigger string }{{configOurs, triggerStream}, {configPython, triggerPoll}} {
			s := base
			s.Kind, s.Config, s.Trigger, s.N = kindSubmit, c.config, c.trigger, n
			s.TrackWindowSeconds = o.trackWindow
			// Ten times the bound, and at least ten minutes.
			s.LimitSeconds = max(600, 10*boundFor("ecs:RunTask", n).Seconds)
			out = append(out, s)
		}
	}
	for _, c := range []struct{ config, trigger string }{{configOurs, triggerStream}, {configOurs, triggerPoll}, {configPython, triggerPoll}} {
		s := base
		s.Kind, s.Config, s.Trigger, s.N = kindLatency, c.config, c.trigger, o.latencyRuns
		s.MeanGapSeconds, s.LimitSeconds = o.meanGap, 600
		out = append(out, s)
	}
	for _, c := range []string{configOurs, configPython} {
		s := base
		s.Kind, s.Config, s.Trigger, s.N = kindRestart, c, triggerStream, o.restartDeps
		s.LimitSeconds = 600
		// Registrations in several families at once: see deployments.
		s.Clock = "wall"
		out = append(out, s)
	}
	if !o.noWall && o.deployments > 0 {
		for _, c := range []struct{ config, trigger string }{{configOurs, triggerStream}, {configPython, triggerPoll}} {
			s := base
			s.Kind, s.Config, s.Trigger, s.N = kindDeployments, c.config, c.trigger, o.deployments
			s.Clock = "wall"
			s.LimitSeconds = max(120, 3*boundFor("ecs:RegisterTaskDefinition", o.deployments).Seconds)
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b Scenario) int { return costOf(b) - costOf(a) })
	return out
}

// costOf ranks scenarios by the CPU they take to simulate; wall-clock ones
// take little CPU but long, so they start first.
func costOf(s Scenario) int {
	if s.Clock == "wall" {
		return 1 << 30
	}
	return s.N
}

// runSimulations runs each scenario in its own process of the test binary,
// parallel at a time, from dir.
func runSimulations(bin, dir string, scenarios []Scenario, parallel int, logf func(string, ...any)) []Result {
	var (
		mu      sync.Mutex
		results []Result
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

func simulate(bin, dir string, sc Scenario) Result {
	fail := func(err error) Result {
		return Result{Scenario: sc, Name: sc.Name(), Clock: sc.Clock, Error: err.Error()}
	}
	spec, err := json.Marshal([]Scenario{sc})
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
	cmd.Env = append(os.Environ(), "BENCH_SPEC="+string(spec), "BENCH_OUT="+out)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fail(fmt.Errorf("%w: %s", err, lastLines(buf.String(), 20)))
	}
	var rs []Result
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
func wallClock(o options, bin, tmp string, logf func(string, ...any)) ([]Result, error) {
	e, err := newWallEnv(o.awsLatency, o.prefectLatency, o.seed, tmp)
	if err != nil {
		return nil, err
	}
	defer e.close()
	var out []Result
	// The first start creates the pool; it is not timed.
	_ = e.timeStartup(bin, "bench-start", 30*time.Second, 1)
	for _, lat := range []string{"0", o.prefectLatency} {
		if err := e.setPrefectLatency(lat, o.seed+1); err != nil {
			return nil, err
		}
		logf("start-up to first poll, Prefect latency %s", lat)
		began := time.Now()
		st := e.timeStartup(bin, "bench-start", 30*time.Second, o.startupSamples)
		out = append(out, Result{Name: "startup/ecsworker/prefect-latency-" + lat, Clock: "wall", Startup: st, WallSeconds: time.Since(began).Seconds()})
	}
	if err := e.setPrefectLatency(o.prefectLatency, o.seed+1); err != nil {
		return nil, err
	}
	for _, n := range o.memSizes {
		logf("memory with %d runs in flight, then a restart", n)
		began := time.Now()
		mem, restart := e.memoryRun(bin, n, o.hold, o.restartLimit)
		restart.WallSeconds = time.Since(began).Seconds() - mem.WallSeconds
		if mem.Error != "" {
			logf("memory-%d: %s", n, mem.Error)
		}
		out = append(out, mem, restart)
	}
	return out, nil
}

func sortResults(rs []Result) {
	order := map[string]int{kindSubmit: 0, kindLatency: 1, kindDeployments: 2, kindRestart: 3, "": 4}
	slices.SortStableFunc(rs, func(a, b Result) int {
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

func goCmd(dir string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
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
	Machine     machine  `json:"machine"`
	Settings    settings `json:"settings"`
	TookSeconds float64  `json:"took_seconds"`
	Results     []Result `json:"results"`
}

// settings are the options a report needs.
type settings struct {
	Sizes              []int   `json:"sizes"`
	MemSizes           []int   `json:"mem_sizes"`
	Deployments        int     `json:"deployments"`
	RestartDeployments int     `json:"restart_deployments"`
	LatencyRuns        int     `json:"latency_runs"`
	MeanGap            float64 `json:"mean_gap_seconds"`
	AWSLatency         string  `json:"aws_latency"`
	PrefectLatency     string  `json:"prefect_latency"`
	TrackWindow        float64 `json:"track_window_seconds"`
	HoldSeconds        float64 `json:"hold_seconds"`
	Seed               uint64  `json:"seed"`
	Quick              bool    `json:"quick"`
	NoWall             bool    `json:"no_wall"`
}

func (o options) settings() settings {
	return settings{Sizes: o.sizes, MemSizes: o.memSizes, Deployments: o.deployments, RestartDeployments: o.restartDeps, LatencyRuns: o.latencyRuns,
		MeanGap: o.meanGap, AWSLatency: o.awsLatency, PrefectLatency: o.prefectLatency, TrackWindow: o.trackWindow,
		HoldSeconds: o.hold.Seconds(), Seed: o.seed, Quick: o.quick, NoWall: o.noWall}
}

func (st settings) options() options {
	return options{sizes: st.Sizes, memSizes: st.MemSizes, deployments: st.Deployments, restartDeps: st.RestartDeployments, latencyRuns: st.LatencyRuns,
		meanGap: st.MeanGap, awsLatency: st.AWSLatency, prefectLatency: st.PrefectLatency, trackWindow: st.TrackWindow,
		hold: time.Duration(st.HoldSeconds * float64(time.Second)), seed: st.Seed, quick: st.Quick, noWall: st.NoWall}
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
	rep := report{opts: sv.Settings.options(), results: sv.Results, machine: sv.Machine, took: time.Duration(sv.TookSeconds * float64(time.Second))}
	if out != "" {
		if !filepath.IsAbs(out) {
			if root, err := moduleRoot(); err == nil {
				out = filepath.Join(root, out)
			}
		}
		if err := os.WriteFile(out, []byte(rep.markdown()), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprint(stdout, rep.summary(out, path))
	return nil
}

// dataPath is where the summary says the JSON went.
func dataPath(jsonOut string) string {
	if jsonOut == "-" {
		return "standard output"
	}
	return jsonOut
}
