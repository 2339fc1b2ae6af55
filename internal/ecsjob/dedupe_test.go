package ecsjob

import (
	"testing"
)

func TestEnumFix(t *testing.T) {
	t.Parallel()
	launchTypes := []any{"FARGATE", "EC2", "EXTERNAL", "FARGATE_SPOT"}
	const where = " in the deployment's or flow run's job variables"
	tests := []struct {
		name    string
		got     any
		allowed []any
		want    string
	}{
		{"wrong case", "fargate", launchTypes, `Set launch_type to "FARGATE"` + where + ` (values are case-sensitive).`},
		{"separator", "fargate-spot", launchTypes, `Set launch_type to "FARGATE_SPOT"` + where + `.`},
		{"typo", "EC3", launchTypes, `Set launch_type to "EC2"` + where + `.`},
		// ECS knows MANAGED_INSTANCES; this schema does not, so neither does the fix.
		{"not in the schema", "MANAGED_INSTANCES", launchTypes, `Set launch_type to one of "FARGATE", "EC2", "EXTERNAL", "FARGATE_SPOT"` + where + `.`},
		{"numbers stay numbers", 3, []any{jsonNumber(1), jsonNumber(2)}, `Set launch_type to one of 1, 2` + where + `.`},
	}
	for _, tc := range tests {
		if got := enumFix("launch_type", tc.got, tc.allowed); got != tc.want {
			t.Errorf("%s: enumFix = %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestAsVariable(t *testing.T) {
	t.Parallel()
	filled := variablePaths(DefaultTemplate().JobConfiguration)
	tests := []struct{ field, want string }{
		{"task_run_request.launchType", "launch_type"},
		{"task_run_request.placementStrategy[0].type", "placement_strategy.0.type"},
		{"task_run_request.placementStrategy", "placement_strategy"},
		{"task_definition.cpu", "cpu"},
		{"task_definition.ephemeralStorage.sizeInGiB", "ephemeral_storage"},
		{"task_definition.containerDefinitions[0].image", "image"},
		{"task_definition.networkMode", ""}, // no variable fills it
		{"task_run_request.count", ""},
		{"launch_type", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := asVariable(filled, tc.field); got != tc.want {
			t.Errorf("asVariable(%q) = %q, want %q", tc.field, got, tc.want)
		}
	}
}

func TestSameSpot(t *testing.T) {
	t.Parallel()
	refused := []string{"launch_type", "placement_strategy.0"}
	tests := []struct {
		field string
		want  bool
	}{
		{"launch_type", true},
		{"placement_strategy.0", true},
		{"placement_strategy.0.type", true},
		{"placement_strategy", false}, // placement on Fargate is another mistake
		{"placement_strategy.1", false},
		{"launch_type_x", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := sameSpot(refused, tc.field); got != tc.want {
			t.Errorf("sameSpot(%q) = %v, want %v", tc.field, got, tc.want)
		}
	}
}
