package spec

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ecsworker/ecsworker/internal/backoff"
)

// Latency draws per-call delays from a range, reproducibly for a seed.
type Latency struct {
	lo, hi time.Duration
	mu     sync.Mutex
	rng    *rand.Rand
}

// NewLatency parses spec as LatencyRange does.
func NewLatency(spec string, seed uint64) (*Latency, error) {
	lo, hi, err := LatencyRange(spec)
	if err != nil {
		return nil, err
	}
	return &Latency{lo: lo, hi: hi, rng: rand.New(rand.NewPCG(seed, seed^0x5bd1e995))}, nil
}

func (l *Latency) draw() time.Duration {
	if l == nil || l.hi <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lo + time.Duration(l.rng.Int64N(int64(l.hi-l.lo)+1))
}

// Wait sleeps one drawn delay, or until ctx ends.
func (l *Latency) Wait(ctx context.Context) error {
	d := l.draw()
	if d <= 0 {
		// No delay, no wait: not even an ended ctx fails the call.
		return nil
	}
	return backoff.Sleep(ctx, d)
}

// String is the range as LatencyRange reads it.
func (l *Latency) String() string {
	if l == nil || l.hi <= 0 {
		return "0"
	}
	if l.lo == l.hi {
		return l.lo.String()
	}
	return l.lo.String() + "-" + l.hi.String()
}
