package infra

import (
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// A hand-written worker policy in the template is refused: it would drift
// from what aws-policy prints.
func TestFillWorkerPolicyRefusesHandWrittenPolicies(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		template string
		want     string
	}{
		"hand-written": {
			template: `{"Resources": {"WorkerTaskRole": {"Properties": {"Policies": [{"PolicyName": "run-flow-runs", "PolicyDocument": {"Version": "2012-10-17", "Statement": []}}]}}}}`,
			want:     "internal/infra.WorkerNeeds",
		},
		"missing": {
			template: `{"Resources": {"WorkerTaskRole": {"Properties": {"Policies": []}}}}`,
			want:     "has no run-flow-runs policy",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tmpl, err := jsonv.DecodeObject([]byte(tc.template))
			if err != nil {
				t.Fatal(err)
			}
			if err := fillWorkerPolicy(tmpl); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}
