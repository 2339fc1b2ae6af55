package infracmd

import (
	"testing"

	"github.com/ecsworker/ecsworker/internal/cfnstack"
)

// SetClock makes the infra commands wait on c until the test ends.
func SetClock(t *testing.T, c cfnstack.Clock) {
	prev := infraClock
	infraClock = c
	t.Cleanup(func() { infraClock = prev })
}

// DefaultWorkerImage is the image deploy-service runs by default.
var DefaultWorkerImage = defaultWorkerImage
