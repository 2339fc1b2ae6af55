//go:build chaos

package chaos

import (
	crand "crypto/rand"
	"encoding/binary"
	"flag"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var (
	runsFlag = flag.Int("chaos.runs", 300, "flow runs in the whole suite, shared out among the scenarios")
	seedFlag = flag.Uint64("chaos.seed", 0, "seed of the fault plan (0 draws one; the seed used is printed)")
)

// scenario is one kind of bad day.
type scenario struct {
	name          string
	workers       int     // workers serving the pool at once, each with its own name
	kills         bool    // workers are killed at random moments and restarted
	prefectFaults bool    // 5xx, 429, stalls, outages and slowness from Prefect
	awsFaults     bool    // 5xx, throttling, stalls, outages and slowness from AWS
	throttle      bool    // ECS token buckets far below the worker's budget
	capacity      float64 // share of runs whose first RunTask attempts find no capacity
	neverStart    float64 // share of runs whose task never starts
}

// scenarios are played in parallel, each in its own bubble with its own
// servers. In all of them every worker runs under a supervisor that, like
// ECS with a container health check, replaces a worker whose /health
// fails three times in a row; in all of them some tasks run for ever, some
// flows fail, some containers run out of memory before their flow can
// report.
var scenarios = []scenario{
	{name: "prefect-outage", workers: 1, prefectFaults: true},
	{name: "aws-throttling", workers: 1, throttle: true, awsFaults: true},
	{name: "capacity-and-never-start", workers: 1, capacity: 0.35, neverStart: 0.2},
	{name: "kill-restart", workers: 1, kills: true},
	{name: "two-workers", workers: 2},
	{name: "everything-at-once", workers: 2, kills: true, prefectFaults: true, awsFaults: true, throttle: true, capacity: 0.2, neverStart: 0.1},
}

const (
	// settleLimit bounds the fake time allowed, once chaos ends, for every
	// run to reach a final state or RUNNING with its one task running.
	settleLimit = 90 * time.Minute
	// chaosTail is how long chaos goes on after the last run is due, so
	// that late runs meet it too.
	chaosTail = 3 * time.Minute
)

// total adds the scenarios up for the suite's summary line.
type total struct {
	mu                                              sync.Mutex
	runs, faults, restarts, lost, duplicates, leaks int
	falseCrashes                                    int
}

func TestChaos(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:]) >> 1
	}
	line := fmt.Sprintf("chaos: seed=%d (reproduce with -chaos.seed=%d)", seed, seed)
	t.Log(line)
	fmt.Println(line)

	var sum total
	t.Cleanup(func() {
		line := fmt.Sprintf("chaos: runs=%d faults=%d restarts=%d lost=%d duplicates=%d secret_leaks=%d",
			sum.runs, sum.faults, sum.restarts, sum.lost, sum.duplicates, sum.leaks)
		t.Log(line)
		fmt.Println(line)
		if sum.falseCrashes > 0 {
			line := fmt.Sprintf("chaos: false_crash_reports=%d (runs reported Crashed, %q, although they have a task)", sum.falseCrashes, submitFailure)
			t.Log(line)
			fmt.Println(line)
		}
	})
	for i, sc := range scenarios {
		runs := max(1, *runsFlag/len(scenarios))
		if i < *runsFlag%len(scenarios) {
			runs++
		}
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			h := fnv.New64a()
			h.Write([]byte(sc.name))
			runScenario(t, sc, seed, seed^h.Sum64(), runs, &sum)
		})
	}
}

// runScenario plays sc with runs flow runs; seed is the scenario's own,
// drawn from master, the one -chaos.seed takes.
func runScenario(t *testing.T, sc scenario, master, seed uint64, runs int, sum *total) {
	wallStart := time.Now()
	// Deferred, as a failure in the bubble ends this function with it;
	// and outside the bubble, where the clock is real.
	defer func() { t.Logf("%s: %s of wall time", sc.name, time.Since(wallStart).Round(time.Millisecond)) }()
	// Everything happens inside the bubble, the verdict included: a failure
	// reported in a bubble ends the test once the bubble is gone, and the
	// summary must be printed either way.
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, sc, seed, runs)
		rng := func(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }
		arrivals := time.Duration(max(3, runs/20)) * time.Minute
		h.plan(rng(1), arrivals)

		calm := make(chan struct{})
		var wg sync.WaitGroup
		for i := range sc.workers {
			wg.Go(func() { h.supervise(fmt.Sprintf("chaos-worker-%d", i+1), rng(10+uint64(i)), calm) })
		}
		wg.Go(func() { h.inject(rng(2), calm) })
		stopEngine := make(chan struct{})
		engineDone := make(chan struct{})
		go func() {
			defer close(engineDone)
			for {
				select {
				case <-stopEngine:
					return
				case <-time.After(2 * time.Second):
					h.playEngine()
				}
			}
		}()

		time.Sleep(arrivals + chaosTail)
		h.endChaos()
		close(calm)
		wg.Wait()
		h.heal()

		deadline := time.Now().Add(settleLimit)
		for time.Now().Before(deadline) && !h.allSettled() {
			time.Sleep(10 * time.Second)
		}
		close(stopEngine)
		<-engineDone
		h.stopAll()
		v := h.judge()
		h.scanServerLogs()
		h.aws.Close()
		h.prefect.Close()
		h.report(master, runs, v, sum)
	})
}

// report logs the scenario's outcome, adds it to sum and fails the test
// for every broken promise.
func (h *harness) report(master uint64, runs int, v verdict, sum *total) {
	t, sc := h.t, h.sc
	h.mu.Lock()
	st := h.stats
	h.mu.Unlock()
	throttled := 0
	for _, n := range h.aws.Throttled() {
		throttled += n
	}
	faults := st.faults + st.capacity + st.neverStarts + throttled
	h.leaks.mu.Lock()
	leaks, samples, lines := h.leaks.leaks, h.leaks.samples, h.leaks.lines
	h.leaks.mu.Unlock()

	t.Logf("%s: states %s; faults: %d injected, %d throttled, %d capacity, %d never started; kills %s; %d log lines scanned",
		sc.name, sortedCounts(v.states), st.faults, throttled, st.capacity, st.neverStarts, sortedCounts(st.kills), lines)
	for _, c := range topCauses(v.crashes, 6) {
		t.Logf("%s: crashed: %s", sc.name, c)
	}
	line := fmt.Sprintf("chaos: scenario=%s runs=%d faults=%d restarts=%d lost=%d duplicates=%d secret_leaks=%d",
		sc.name, runs, faults, st.restarts, len(v.lost), len(v.duplicates), leaks)
	t.Log(line)
	fmt.Println(line)

	sum.mu.Lock()
	sum.runs += runs
	sum.faults += faults
	sum.restarts += st.restarts
	sum.lost += len(v.lost)
	sum.duplicates += len(v.duplicates)
	sum.leaks += leaks
	sum.falseCrashes += len(v.falseCrash)
	sum.mu.Unlock()

	fail := func(what string, ids []string) {
		if len(ids) == 0 {
			return
		}
		var b strings.Builder
		for i, id := range ids {
			if i == 5 {
				fmt.Fprintf(&b, "... and %d more\n", len(ids)-5)
				break
			}
			b.WriteString(v.details[id])
			b.WriteString("\n")
		}
		t.Errorf("%d runs %s (replay with -chaos.seed=%d -chaos.runs=%d -run 'TestChaos/%s'):\n%s",
			len(ids), what, master, *runsFlag, sc.name, b.String())
	}
	fail("lost: neither in a final state nor RUNNING with exactly one task, still running", v.lost)
	fail("launched more than once", v.duplicates)
	fail(fmt.Sprintf("reported Crashed (%q) although they have a task", submitFailure), v.falseCrash)
	if leaks > 0 {
		t.Errorf("%d log lines hold a secret, e.g.:\n%s", leaks, strings.Join(samples, "\n"))
	}
}

// topCauses lists the n most frequent crash causes, most frequent first.
func topCauses(m map[string]int, n int) []string {
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range m {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	var out []string
	for i, e := range all {
		if i == n {
			break
		}
		out = append(out, fmt.Sprintf("%d× %s", e.v, e.k))
	}
	return out
}
