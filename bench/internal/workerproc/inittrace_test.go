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
		tr := newInitTrace()
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

func TestGCTrace(t *testing.T) {
	t.Parallel()
	trace := "gc 1 @0.015s 2%: 0.5+1.5+0.005 ms clock, 1.0+0/0.9/1.4+0.01 ms cpu, 3->3->2 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		"some other line 9->9->9 MB\n" +
		"gc 2 @0.030s 3%: 0.02+2.5+0.005 ms clock, 0.05+1.1/0.3/2.2+0.01 ms cpu, 6->7->5 MB, 6 MB goal, 0 MB stacks, 0 MB globals, 2 P\n" +
		"gc 3 @0.050s 3%: 0.02+2.5+0.005 ms clock, 0.05+1.1/0.3/2.2+0.01 ms cpu, 8->8->4 MB, 10 MB goal, 0 MB stacks, 0 MB globals, 2 P\n"
	for _, chunk := range []int{1, 7, len(trace)} {
		g := newGCTrace()
		for i := 0; i < len(trace); i += chunk {
			if _, err := g.Write([]byte(trace[i:min(i+chunk, len(trace))])); err != nil {
				t.Fatal(err)
			}
		}
		if last, peak, cycles := g.read(); last != 4 || peak != 5 || cycles != 3 {
			t.Errorf("chunks of %d: live %v, peak %v, %d cycles; want 4, 5, 3", chunk, last, peak, cycles)
		}
	}
}
