package backoff_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/backoff"
)

func TestDoubling(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		attempt     int
		base, limit time.Duration
		want        time.Duration
	}{
		{1, time.Second, time.Minute, time.Second},
		{2, time.Second, time.Minute, 2 * time.Second},
		{6, time.Second, time.Minute, 32 * time.Second},
		{7, time.Second, time.Minute, time.Minute},
		{1000, time.Second, time.Minute, time.Minute},
		{0, time.Second, time.Minute, time.Second},
	} {
		if got := backoff.Doubling(tc.attempt, tc.base, tc.limit); got != tc.want {
			t.Errorf("Doubling(%d, %v, %v) = %v, want %v", tc.attempt, tc.base, tc.limit, got, tc.want)
		}
	}
}

func TestDelay(t *testing.T) {
	t.Parallel()
	for attempt := 1; attempt <= 8; attempt++ {
		limit := min(5*time.Second<<(attempt-1), time.Minute)
		for range 50 {
			if d := backoff.Delay(attempt, 5*time.Second, time.Minute); d < limit/2 || d > limit {
				t.Fatalf("attempt %d: %v not in [%v, %v]", attempt, d, limit/2, limit)
			}
		}
	}
}

func TestSleepStopsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := backoff.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context = %v, want context.Canceled", err)
	}
	if err := backoff.Sleep(context.Background(), 0); err != nil {
		t.Fatalf("Sleep(0) = %v, want nil", err)
	}
}
