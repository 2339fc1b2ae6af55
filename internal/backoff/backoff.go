// Package backoff holds the waits between retries that ecsworker makes on top
// of the SDKs' own: a throttled task-definition registration, a RunTask
// without capacity, a failed event-queue read, a Prefect request that the
// server asked to retry. One schedule and one context-aware sleep, so that
// every retry loop stops the moment its context ends.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Doubling is the wait before retry number attempt (1, 2, ...) with no
// jitter: base doubled each time, capped at limit.
func Doubling(attempt int, base, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// Delay is Doubling with the upper half of the wait random, so that workers
// that failed together do not retry together.
func Delay(attempt int, base, limit time.Duration) time.Duration {
	d := Doubling(attempt, base, limit)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// Sleep waits d or until ctx ends; it returns ctx's error when ctx ended
// first (or had already ended when d is not positive).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
