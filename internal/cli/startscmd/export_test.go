package startscmd

import (
	"testing"
	"time"
)

// SetNow makes f the command's clock until the test ends.
func SetNow(t *testing.T, f func() time.Time) {
	prev := now
	now = f
	t.Cleanup(func() { now = prev })
}
