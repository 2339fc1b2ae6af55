package prefectapi

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/backoff"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
)

func TestBackoffJitterBounds(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		jitter, rnd float64
		retry       int
		want        time.Duration
	}{
		"no jitter, first retry":     {retry: 1, want: 2 * time.Second},
		"no jitter, third retry":     {retry: 3, want: 8 * time.Second},
		"maintenance (no retry)":     {retry: 0, want: time.Second},
		"lowest with 20% jitter":     {jitter: 0.2, rnd: 0, retry: 1, want: 1600 * time.Millisecond},
		"highest with 20% jitter":    {jitter: 0.2, rnd: 0.999999999, retry: 1, want: 2400 * time.Millisecond},
		"jitter above 1 clamps at 0": {jitter: 1.5, rnd: 0, retry: 2, want: 0},
		"capped exponent":            {retry: 40, want: 1024 * time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := &Transport{cfg: prefectconfig.Config{RetryJitter: tc.jitter}, jitter: func() float64 { return tc.rnd }}
			got := c.backoff(tc.retry)
			if diff := got - tc.want; diff < -time.Millisecond || diff > time.Millisecond {
				t.Errorf("backoff(%d) = %v, want %v", tc.retry, got, tc.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 8, 21, 16, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		"seconds":      {in: "7", want: 7 * time.Second, wantOK: true},
		"fraction":     {in: "0.5", want: 500 * time.Millisecond, wantOK: true},
		"negative":     {in: "-3", want: 0, wantOK: true},
		"HTTP date":    {in: now.Add(time.Minute).Format(http.TimeFormat), want: time.Minute, wantOK: true},
		"date in past": {in: now.Add(-time.Minute).Format(http.TimeFormat), want: 0, wantOK: true},
		"huge":         {in: "1e300", want: maxRetryAfter, wantOK: true},
		"empty":        {in: ""},
		"garbage":      {in: "soon"},
		"not a number": {in: "NaN"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, ok := parseRetryAfter(tc.in, now)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("parseRetryAfter(%q) = %v, %v", tc.in, got, ok)
			}
		})
	}
}

func TestSleepCtxStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A cancelled context must end the wait at once, however long it is.
	if err := backoff.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v", err)
	}
	if err := backoff.Sleep(context.Background(), 0); err != nil {
		t.Errorf("zero wait: %v", err)
	}
}
