package ecsrequest_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/ecsrequest"
)

// TestIsName holds IsName to ECS's rule for families and container names,
// written as the regular expression AWS documents.
func TestIsName(t *testing.T) {
	t.Parallel()
	rule := regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	for _, s := range []string{
		"", "a", "prefect_ecs-pool_1", "Z9", "has space", "dot.", "slash/", "ünicode", "tab\t",
		strings.Repeat("x", 255), strings.Repeat("x", 256), "-leading", "_",
	} {
		if got, want := ecsrequest.IsName(s), rule.MatchString(s); got != want {
			t.Errorf("IsName(%q) = %v, want %v", s, got, want)
		}
	}
}
