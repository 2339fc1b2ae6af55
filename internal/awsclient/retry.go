package awsclient

import (
	"context"
	"math/rand/v2"
	"time"
)

// The waits between the retries the domain packages make on top of the
// SDK's own (a throttled registration, a RunTask without capacity).

// BackoffDelay is the wait before retry number attempt (1, 2, ...): base
// doubled each time up to limit, the upper half of it random, so that
// workers that failed together do not retry together.
func BackoffDelay(attempt int, base, limit time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
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
