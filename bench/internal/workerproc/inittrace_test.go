package workerproc

import (
	"slices"
	"testing"

	"github.com/ecsworker/ecsworker/bench/internal/spec"
)

func TestInitTrace(t *testing.T) {
	const trace = "init internal/bytealg @0.008 ms, 0 ms clock, 0 bytes, 0 allocs\n" +
		"gc 1 @0.009s 3%: 0.085+3.9+0.076 ms clock, 0.17+0.30/0.69/2.1+0.15 ms cpu, 3->3->3 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		"init github.com/santhosh-tekuri/jsonschema/v6 @14 ms, 6.1 ms clock, 1700936 bytes, 21281 allocs\n" +
		"level=warning msg=\"not a trace line\"\n" +
		"init github.com/ecsworker/ecsworker/internal/infra @30 ms, 0.025 ms clock, 7392 bytes, 27 allocs\n" +
		"init unfinished @31 ms, 9 ms clock"
	want := []spec.PackageInit{
		{Package: "internal/bytealg", MS: 0, Bytes: 0},
		{Package: "github.com/santhosh-tekuri/jsonschema/v6", MS: 6.1, Bytes: 1700936},
		{Package: "github.com/ecsworker/ecsworker/internal/infra", MS: 0.025, Bytes: 7392},
	}
	for _, chunk := range []int{len(trace), 1, 7, 64} {
		var tr initTrace
		for i := 0; i < len(trace); i += chunk {
			if _, err := tr.Write([]byte(trace[i:min(i+chunk, len(trace))])); err != nil {
				t.Fatal(err)
			}
		}
		if got := tr.read(); !slices.Equal(got, want) {
			t.Errorf("written %d bytes at a time: %+v, want %+v", chunk, got, want)
		}
	}
}

func TestMedianMax(t *testing.T) {
	tests := []struct {
		samples     []float64
		median, max float64
	}{
		{nil, 0, 0},
		{[]float64{5}, 5, 5},
		{[]float64{30, 10, 20}, 20, 30},
		{[]float64{4, 1, 3, 2}, 3, 4},
	}
	for _, tt := range tests {
		samples := slices.Clone(tt.samples)
		if m, x := medianMax(samples); m != tt.median || x != tt.max {
			t.Errorf("medianMax(%v) = %v, %v; want %v, %v", tt.samples, m, x, tt.median, tt.max)
		}
		if !slices.Equal(samples, tt.samples) {
			t.Errorf("medianMax reordered its argument: %v", samples)
		}
	}
}
