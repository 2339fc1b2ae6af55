// Package memlimit gives the Go runtime a soft memory limit taken from the
// container the worker runs in, when GOMEMLIMIT does not set one: the
// garbage collector then works harder as the process nears what the
// container may use, rather than the task being killed for running out
// of memory (ECS stops it with OutOfMemoryError). It changes nothing
// while the heap is well under the limit.
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
	Limit     int64 // the soft limit set, in bytes; 0: none
	Container int64 // the container's limit it was taken from
	// Skipped says why no limit was set, when none was.
	Skipped string
}

// Apply sets the runtime's soft memory limit to Share of the container's
// limit, unless GOMEMLIMIT is set (lookup reads the environment) or there
// is no container limit.
func Apply(lookup func(string) (string, bool), cgroupfs fs.FS) (Applied, error) {
	if v, ok := lookup("GOMEMLIMIT"); ok && v != "" {
		return Applied{Skipped: "GOMEMLIMIT is set"}, nil
	}
	c, err := Limit(cgroupfs)
	if err != nil {
		return Applied{Skipped: "the container's limit cannot be read"}, err
	}
	if c == 0 {
		return Applied{Skipped: "no container memory limit"}, nil
	}
	limit := int64(math.Floor(float64(c) * Share))
	debug.SetMemoryLimit(limit)
	return Applied{Limit: limit, Container: c}, nil
}
