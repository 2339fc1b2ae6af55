package spec

import (
	"reflect"
	"testing"
)

func TestSpreadOf(t *testing.T) {
	seq := func(n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = float64(n - i) // descending: SpreadOf sorts
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   []float64
		want *Spread
	}{
		{"none", nil, nil},
		{"one", []float64{58}, &Spread{N: 1, P50: 58, P95: 58, Max: 58}},
		{"two: p50 is the lower", []float64{4.001, 4}, &Spread{N: 2, P50: 4, P95: 4.001, Max: 4.001}},
		// Nearest rank: the 50th of 100 and the 95th.
		{"hundred", seq(100), &Spread{N: 100, P50: 50, P95: 95, Max: 100}},
		// 0.95 × 30 = 28.5: the 29th.
		{"thirty", seq(30), &Spread{N: 30, P50: 15, P95: 29, Max: 30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			if got := SpreadOf(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("SpreadOf(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
			if !reflect.DeepEqual(in, tc.in) && tc.in != nil {
				t.Errorf("SpreadOf sorted its argument in place")
			}
		})
	}
}

func TestStartCounts(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []int
	}{
		{1000, []int{400, 300, 200, 100}},
		{100, []int{40, 30, 20, 10}},
		{20, []int{8, 6, 4, 2}},
		// Shares rounded down, the rest to the first groups.
		{7, []int{3, 3, 1, 0}},
		{1, []int{1, 0, 0, 0}},
		{0, []int{0, 0, 0, 0}},
	} {
		got := StartCounts(StartMix, tc.n)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("StartCounts(StartMix, %d) = %v, want %v", tc.n, got, tc.want)
		}
	}
	spot := StartMix[len(StartMix)-1]
	if got := spot.SpotShort(100); got != 50 {
		t.Errorf("SpotShort(100) = %d, want 50 (half)", got)
	}
	if got := StartMix[0].SpotShort(100); got != 0 {
		t.Errorf("SpotShort of a group without Spot = %d, want 0", got)
	}
}
