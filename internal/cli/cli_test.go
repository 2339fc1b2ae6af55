package cli_test

import (
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/cli/clitest"
)

func TestVersion(t *testing.T) {
	r := clitest.Run(t, "", "version")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "ecsworker ") {
		t.Fatalf("version: %+v", r)
	}
}
