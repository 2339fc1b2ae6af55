package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ecsworker/ecsworker/bench/internal/spec"
)

// Issue 13's memory goals: peak RSS at 10,000 runs in flight, the live
// heap each tracked run adds, and (optional size) 100,000 runs.
const (
	memoryGoalRuns     = 10000
	memoryGoalMB       = 40
	memoryTarget       = "≤ 40 MB peak RSS"
	slopeGoalBytes     = 1024
	bigMemoryRuns      = 100000
	bigMemoryGoalMB    = 150
	retainersShown     = 12
	memorySlopeFromMin = 1000
)

func (r Report) memory(n int) *spec.Result { return r.find(fmt.Sprintf("memory-%d/ecsworker", n)) }

// memoryMet judges the peak RSS goal of a memory size that has one.
func memoryMet(n int, res *spec.Result) bool {
	if failed(res) || res.Memory == nil {
		return false
	}
	switch {
	case n >= bigMemoryRuns:
		return res.Memory.PeakRSSMB <= bigMemoryGoalMB
	case n >= memoryGoalRuns:
		return res.Memory.PeakRSSMB <= memoryGoalMB
	}
	return true
}

func memoryTargetFor(n int) string {
	switch {
	case n >= bigMemoryRuns:
		return fmt.Sprintf("< %d MB peak RSS (optional size)", bigMemoryGoalMB)
	case n >= memoryGoalRuns:
		return memoryTarget
	}
	return "-"
}

// slope is the live heap each tracked run adds: the difference of the
// heap after a forced GC between the smallest size of at least 1,000 and
// the largest, per run. ok is false without two such sizes.
func (r Report) slope() (bytesPerRun float64, from, to int, ok bool) {
	var sizes []int
	for _, n := range r.Settings.MemSizes {
		if m := r.memory(n); n >= memorySlopeFromMin && !failed(m) && m.Memory != nil && m.Memory.HeapAfterGCMB > 0 {
			sizes = append(sizes, n)
		}
	}
	if len(sizes) < 2 {
		return 0, 0, 0, false
	}
	slices.Sort(sizes)
	from, to = sizes[0], sizes[len(sizes)-1]
	a, b := r.memory(from).Memory.HeapAfterGCMB, r.memory(to).Memory.HeapAfterGCMB
	return (b - a) * (1 << 20) / float64(to-from), from, to, true
}

func (r Report) slopeCell() (cell string, met bool) {
	per, from, to, ok := r.slope()
	if !ok {
		return "needs two memory sizes of at least 1,000 (-mem-sizes)", false
	}
	a, b := r.memory(from).Memory.HeapAfterGCMB, r.memory(to).Memory.HeapAfterGCMB
	return fmt.Sprintf("%.0f bytes per run (%.1f MB after a GC with %d runs, %.1f MB with %d)", per, a, from, b, to), per <= slopeGoalBytes
}

// retainersTable lists what holds the live heap of the largest memory
// size, per tracked run.
func (r Report) retainersTable() (n int, t table, ok bool) {
	for _, k := range r.Settings.MemSizes {
		if m := r.memory(k); !failed(m) && m.Memory != nil && len(m.Memory.Retainers) > 0 && k > n {
			n = k
		}
	}
	if n == 0 {
		return 0, t, false
	}
	mm := r.memory(n).Memory
	t = table{head: []string{"Allocated by (flat)", "Live", "Per tracked run"}}
	for _, rt := range mm.Retainers[:min(retainersShown, len(mm.Retainers))] {
		t.add("`"+shortFunc(rt.Function)+"`", fmt.Sprintf("%.2f MB", rt.Bytes/(1<<20)), strconv.Itoa(int(rt.Bytes/float64(n)))+" B")
	}
	return n, t, true
}

// shortFunc drops the module prefixes that make pprof's names long.
func shortFunc(f string) string {
	for _, p := range []string{"github.com/ecsworker/ecsworker/internal/", "github.com/aws/aws-sdk-go-v2/", "github.com/aws/", "github.com/"} {
		if rest, ok := strings.CutPrefix(f, p); ok {
			return rest
		}
	}
	return f
}
