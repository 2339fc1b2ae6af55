package prefectpool_test

import (
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/prefectpool"
)

func TestNameValidators(t *testing.T) {
	t.Parallel()
	for name, wantErr := range map[string]string{
		"my-pool":       "",
		"ecs pool (v2)": "",
		"prefect-ish":   "", // reserved for creation, but a valid name
		"bad/name":      `work pool name "bad/name" contains "/": Prefect refuses / % & > < in names, which would break the URLs they go into; choose another name, e.g. "bad-name"`,
		"100%":          `contains "%"`,
		"a&b":           `contains "&"`,
		"<x>":           `contains "<"`,
		"":              "is empty",
		` "' `:          "is empty",
	} {
		err := prefectpool.ValidateWorkPoolName(name)
		if (wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), wantErr)) {
			t.Errorf("ValidateWorkPoolName(%q) = %v, want %q", name, err, wantErr)
		}
	}
	if err := prefectpool.ValidateWorkQueueName("q/1"); err == nil || !strings.HasPrefix(err.Error(), `work queue name "q/1" contains "/"`) {
		t.Errorf("queue: %v", err)
	}
	if err := prefectpool.ValidateWorkQueueName(" "); err != nil {
		t.Errorf("Prefect allows a queue named %q: %v", " ", err)
	}
}
