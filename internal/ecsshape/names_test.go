package ecsshape_test

import (
	"testing"

	"github.com/ecsworker/ecsworker/internal/ecsshape"
)

func TestEditDistance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"cluster", "cluster", 0},
		{"clusterr", "cluster", 1},
		{"memroy", "memory", 1}, // a swap is one edit
		{"cpu", "env", 3},
		{"", "cpu", 3},
		{"fargate", "FARGATE", 7}, // case counts here; callers fold it
		{"kitten", "sitting", 3},
	}
	for _, tc := range tests {
		if got := ecsshape.EditDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := ecsshape.EditDistance(tc.b, tc.a); got != tc.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d (not symmetric)", tc.b, tc.a, got, tc.want)
		}
	}
}
