// Package memlimit sets the Go runtime's memory policy for the worker,
// where the environment does not: a soft memory limit taken from the
// container the worker runs in (without GOMEMLIMIT), so that the garbage
// collector works harder as the process nears what the container may use
// rather than the task being killed for running out of memory (ECS stops
// it with OutOfMemoryError); and a heap allowed to grow half as much
// between collections as Go's default (without GOGC).
package memlimit

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"runtime/debug"
	"strconv"
	"strings"
)

// Share is the part of the container's memory the Go runtime aims to stay
// under: the rest is for what the runtime does not count (the binary's
// pages, which the kernel counts against the container) and for the
// collector's lag.
const Share = 0.9

// GCPercent is the worker's GOGC: the heap may grow by half its live size
// before the next collection, where Go's default lets it double. A worker
// mostly waits on Prefect and AWS, and keeps thousands of small records
// live: the extra collections cost little CPU, and the memory they save
// is most of what tens of thousands of runs in flight add to the
// process's resident set (go run ./bench: 79 MB -> 66 MB peak RSS with
// 10,000 runs in flight).
const GCPercent = 50

// cgroupFiles are where Linux says how much memory the container may use:
// cgroup v2, then v1 (paths relative to /sys/fs/cgroup).
var cgroupFiles = []string{"memory.max", "memory/memory.limit_in_bytes"}

// unlimitedV1 is the smallest value cgroup v1 reports for "no limit"
// (the largest multiple of the page size an int64 holds, give or take).
const unlimitedV1 = 1 << 60

// Limit reads the container's memory limit from cgroupfs (the contents of
// /sys/fs/cgroup): 0 when there is none, or when the files are absent (not
// Linux, not in a container).
func Limit(cgroupfs fs.FS) (int64, error) {
	for _, name := range cgroupFiles {
		b, err := fs.ReadFile(cgroupfs, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		v := strings.TrimSpace(string(b))
		if v == "max" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%s: %q is not a memory limit in bytes", name, v)
		}
		if n >= unlimitedV1 {
			return 0, nil
		}
		return n, nil
	}
	return 0, nil
}

// Applied says what Apply did, for the worker's log.
type Applied struct {
	// GCPercent is the GOGC set; 0 when GOGC was set in the environment.
	GCPercent int

	Limit     int64 // the soft limit set, in bytes; 0: none
	Container int64 // the container's limit it was taken from
	// Skipped says why no limit was set, when none was.
	Skipped string
}

// Apply sets GOGC to GCPercent unless GOGC is set, and the runtime's soft
// memory limit to Share of the container's limit unless GOMEMLIMIT is set
// (lookup reads the environment) or there is no container limit.
func Apply(lookup func(string) (string, bool), cgroupfs fs.FS) (Applied, error) {
	var a Applied
	if v, ok := lookup("GOGC"); !ok || v == "" {
		debug.SetGCPercent(GCPercent)
		a.GCPercent = GCPercent
	}
	if v, ok := lookup("GOMEMLIMIT"); ok && v != "" {
		a.Skipped = "GOMEMLIMIT is set"
		return a, nil
	}
	c, err := Limit(cgroupfs)
	if err != nil {
		a.Skipped = "the container's limit cannot be read"
		return a, err
	}
	if c == 0 {
		a.Skipped = "no container memory limit"
		return a, nil
	}
	a.Limit, a.Container = int64(math.Floor(float64(c)*Share)), c
	debug.SetMemoryLimit(a.Limit)
	return a, nil
}
