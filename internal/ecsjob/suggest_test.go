package ecsjob

import (
	"slices"
	"testing"
)

func TestClosestNames(t *testing.T) {
	t.Parallel()
	variables := DefaultTemplate().VariableNames()
	launchTypes := []string{"FARGATE", "EC2", "EXTERNAL", "FARGATE_SPOT"}
	tests := []struct {
		name       string
		candidates []string
		want       []string
	}{
		{"clusterr", variables, []string{"cluster"}},
		{"memroy", variables, []string{"memory"}},
		{"cpus", variables, []string{"cpu"}},
		{"launchType", variables, []string{"launch_type"}},
		{"LAUNCH-TYPE", variables, []string{"launch_type"}},
		{"subnet", variables, []string{"subnets"}},
		{"task_role", variables, []string{"task_role_arn"}},
		{"image_uri", variables, []string{"image"}},
		{"cloudwatch_logs", variables, []string{"cloudwatch_logs_prefix", "cloudwatch_logs_options"}},
		{"zzzz", variables, nil},
		{"stream_logs", variables, nil},
		{"", variables, nil},
		{"fargate", launchTypes, []string{"FARGATE"}},
		{"fargate-spot", launchTypes, []string{"FARGATE_SPOT"}},
		{"EC3", launchTypes, []string{"EC2"}},
		{"MANAGED_INSTANCES", launchTypes, nil},
	}
	for _, tc := range tests {
		if got := closestNames(tc.name, tc.candidates); !slices.Equal(got, tc.want) {
			t.Errorf("closestNames(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestQuotedList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"a"}, `"a"`},
		{[]string{"a", "b"}, `"a" or "b"`},
		{[]string{"a", "b", "c"}, `"a", "b" or "c"`},
	}
	for _, tc := range tests {
		if got := quotedList(tc.in); got != tc.want {
			t.Errorf("quotedList(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
