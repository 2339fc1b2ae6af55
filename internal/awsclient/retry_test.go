package awsclient_test

import (
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/awsclient"
)

func TestBackoffDelay(t *testing.T) {
	t.Parallel()
	for attempt := 1; attempt <= 8; attempt++ {
		limit := min(5*time.Second<<(attempt-1), time.Minute)
		for range 50 {
			if d := awsclient.BackoffDelay(attempt, 5*time.Second, time.Minute); d < limit/2 || d > limit {
				t.Fatalf("attempt %d: %v not in [%v, %v]", attempt, d, limit/2, limit)
			}
		}
	}
}
