package workercmd

import "testing"

func TestSameListenAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want bool
	}{
		{":8080", "0.0.0.0:8080", true},
		{"0.0.0.0:8080", "[::]:8080", true},
		{"127.0.0.1:9090", "127.0.0.1:9090", true},
		{"127.0.0.1:9090", "127.0.0.1:8080", false},
		{"127.0.0.1:8080", "0.0.0.0:8080", false},
		{"localhost:8080", "127.0.0.1:8080", false},
	}
	for _, tc := range tests {
		if got := sameListenAddr(tc.a, tc.b); got != tc.want {
			t.Errorf("sameListenAddr(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
