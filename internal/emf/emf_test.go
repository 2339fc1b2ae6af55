package emf_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ecsworker/ecsworker/internal/emf"
	"github.com/ecsworker/ecsworker/internal/emf/emftest"
)

var minute = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func newExporter(t *testing.T, reg prometheus.Gatherer, out *bytes.Buffer, tweak func(*emf.Options)) *emf.Exporter {
	t.Helper()
	o := emf.Options{Gatherer: reg, Out: out, Dimensions: []emf.Dimension{{Name: "pool", Value: "etl"}}}
	if tweak != nil {
		tweak(&o)
	}
	e, err := emf.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func flush(t *testing.T, e *emf.Exporter, out *bytes.Buffer, ts time.Time) []emftest.Record {
	t.Helper()
	out.Reset()
	if err := e.Flush(ts); err != nil {
		t.Fatal(err)
	}
	recs, err := emftest.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// find returns the value of a metric in the record with these dimension
// values.
func find(recs []emftest.Record, name string, dims map[string]string) (emftest.Value, bool) {
	for _, r := range recs {
		v, ok := r.Metrics[name]
		if !ok || len(r.Dimensions) != len(dims) {
			continue
		}
		match := true
		for k, want := range dims {
			if r.Dimensions[k] != want {
				match = false
			}
		}
		if match {
			return v, true
		}
	}
	return emftest.Value{}, false
}

// Counters are written as their increase per flush, gauges as their
// value, histograms as the new observations per bucket; labels are
// dimensions next to the pool, rolled up to the pool alone and without
// the deployment.
func TestFlushWritesIncreasesValuesAndDistributions(t *testing.T) {
	reg := prometheus.NewRegistry()
	crashes := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecsworker_crashes_total", Help: "h"}, []string{"cause"})
	inFlight := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ecsworker_runs_in_flight", Help: "h"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ecsworker_latency_seconds", Help: "h", Buckets: []float64{1, 5, 10}})
	phases := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ecsworker_phase_seconds", Help: "h", Buckets: []float64{1, 10}}, []string{"deployment", "phase"})
	sizes := prometheus.NewSummary(prometheus.SummaryOpts{Name: "ecsworker_sizes_bytes", Help: "h"})
	reg.MustRegister(crashes, inFlight, latency, phases, sizes)
	var out bytes.Buffer
	e := newExporter(t, reg, &out, nil)

	crashes.WithLabelValues("oom").Add(3)
	inFlight.Set(7)
	for _, v := range []float64{0.5, 0.7, 4, 30, 50} {
		latency.Observe(v)
	}
	phases.WithLabelValues("etl/nightly", "image_pull").Observe(4)
	sizes.Observe(100)
	recs := flush(t, e, &out, minute)
	pool := map[string]string{"pool": "etl"}
	for _, r := range recs {
		if !r.Timestamp.Equal(minute) || r.Namespace != "ecsworker" {
			t.Errorf("record at %v in %q", r.Timestamp, r.Namespace)
		}
	}
	if v, _ := find(recs, "ecsworker_crashes_total", map[string]string{"pool": "etl", "cause": "oom"}); v.Number != 3 {
		t.Errorf("crashes %v, want 3", v)
	}
	if v, _ := find(recs, "ecsworker_runs_in_flight", pool); v.Number != 7 {
		t.Errorf("in flight %v, want 7", v)
	}
	v, _ := find(recs, "ecsworker_latency_seconds", pool)
	// 30 and 50 are beyond the last bound: their mean, the others taken
	// at their bounds.
	if !slices.Equal(v.Values, []float64{1, 5, 39.1}) || !slices.Equal(v.Counts, []float64{2, 1, 2}) {
		t.Errorf("latency %+v", v)
	}
	if v, _ := find(recs, "ecsworker_sizes_bytes_count", pool); v.Number != 1 {
		t.Errorf("summary count %v", v)
	}
	for _, r := range recs {
		switch {
		case r.Dimensions["cause"] != "":
			if !slices.EqualFunc(r.DimensionSets, [][]string{{"pool", "cause"}, {"pool"}}, slices.Equal) {
				t.Errorf("crash dimension sets %v", r.DimensionSets)
			}
		case r.Dimensions["phase"] != "":
			if !slices.EqualFunc(r.DimensionSets, [][]string{{"pool", "deployment", "phase"}, {"pool", "phase"}}, slices.Equal) {
				t.Errorf("phase dimension sets %v", r.DimensionSets)
			}
		}
		if r.Units["ecsworker_latency_seconds"] != "" && r.Units["ecsworker_latency_seconds"] != "Seconds" {
			t.Errorf("unit %q", r.Units["ecsworker_latency_seconds"])
		}
	}

	// Next minute: only what happened since.
	crashes.WithLabelValues("oom").Inc()
	inFlight.Set(2)
	latency.Observe(6)
	recs = flush(t, e, &out, minute.Add(time.Minute))
	if v, _ := find(recs, "ecsworker_crashes_total", map[string]string{"pool": "etl", "cause": "oom"}); v.Number != 1 {
		t.Errorf("crash increase %v, want 1", v)
	}
	if v, _ := find(recs, "ecsworker_latency_seconds", pool); !slices.Equal(v.Values, []float64{10}) || !slices.Equal(v.Counts, []float64{1}) {
		t.Errorf("latency increase %+v", v)
	}
	if _, ok := find(recs, "ecsworker_phase_seconds", map[string]string{"pool": "etl", "deployment": "etl/nightly", "phase": "image_pull"}); ok {
		t.Errorf("a histogram without new observations was written")
	}
	// A minute without change: counters are written as 0, so that graphs
	// and alarms see a value rather than missing data.
	recs = flush(t, e, &out, minute.Add(2*time.Minute))
	if v, ok := find(recs, "ecsworker_crashes_total", map[string]string{"pool": "etl", "cause": "oom"}); !ok || v.Number != 0 {
		t.Errorf("quiet minute: crashes %v %v", v, ok)
	}
}

// The exporter keeps what CloudWatch would refuse out of the records, says
// so once, and splits records at 100 metrics and at the size limit.
func TestFlushEnforcesCloudWatchLimits(t *testing.T) {
	reg := prometheus.NewRegistry()
	long := prometheus.NewCounter(prometheus.CounterOpts{Name: "ecsworker_" + strings.Repeat("x", 250), Help: "h"})
	var labels []string
	for i := range 30 {
		labels = append(labels, fmt.Sprintf("l%02d", i))
	}
	wide := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "ecsworker_wide", Help: "h"}, labels)
	wide.WithLabelValues(labels...).Set(1) // 31 dimensions with the pool
	nan := prometheus.NewGauge(prometheus.GaugeOpts{Name: "ecsworker_nan", Help: "h"})
	nan.Set(math.NaN())
	reg.MustRegister(long, wide, nan)
	for i := range 150 {
		reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: fmt.Sprintf("ecsworker_many_%03d_total", i), Help: "h"}))
	}
	var out bytes.Buffer
	e := newExporter(t, reg, &out, nil)
	err := e.Flush(minute)
	for _, want := range []string{"longer than CloudWatch's 255", "31 dimensions, over CloudWatch's 30", "NaN is not a number"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	recs, perr := emftest.Parse(&out)
	if perr != nil {
		t.Fatal(perr)
	}
	if len(recs) != 2 || len(recs[0].Metrics) != 100 || len(recs[1].Metrics) != 50 {
		t.Errorf("%d records, want 100 metrics and then 50", len(recs))
	}
	out.Reset()
	if err := e.Flush(minute.Add(time.Minute)); err != nil {
		t.Errorf("the same problems were reported again: %v", err)
	}

	small := newExporter(t, reg, &out, func(o *emf.Options) { o.MaxRecordBytes = 2000 })
	out.Reset()
	_ = small.Flush(minute)
	recs, perr = emftest.Parse(&out)
	if perr != nil {
		t.Fatal(perr)
	}
	total := 0
	for _, r := range recs {
		total += len(r.Metrics)
		if r.Bytes > 2000 {
			t.Errorf("a record of %d bytes, over 2000", r.Bytes)
		}
	}
	if total != 150 {
		t.Errorf("%d metrics across the split records, want 150", total)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	reg := prometheus.NewRegistry()
	tests := map[string]struct {
		o    emf.Options
		want string
	}{
		"colon":        {emf.Options{Gatherer: reg, Out: &bytes.Buffer{}, Namespace: "a:b"}, "cannot contain ':'"},
		"AWS":          {emf.Options{Gatherer: reg, Out: &bytes.Buffer{}, Namespace: "AWS/ECS"}, "AWS's"},
		"long":         {emf.Options{Gatherer: reg, Out: &bytes.Buffer{}, Namespace: strings.Repeat("n", 256)}, "at most 255"},
		"empty value":  {emf.Options{Gatherer: reg, Out: &bytes.Buffer{}, Dimensions: []emf.Dimension{{Name: "pool"}}}, `"pool"=""`},
		"no gatherer":  {emf.Options{Out: &bytes.Buffer{}}, "gatherer"},
		"no output at": {emf.Options{Gatherer: reg}, "output"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := emf.New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// Of the Go runtime and process collectors only goroutines, heap in use
// and resident memory are kept.
func TestIncludeKeepsAFewRuntimeMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var out bytes.Buffer
	recs := flush(t, newExporter(t, reg, &out, nil), &out, minute)
	got := emftest.Names(recs)
	want := slices.Clone(emf.RuntimeMetrics)
	if !platformHasProcessMetrics(reg) {
		want = slices.DeleteFunc(want, func(n string) bool { return strings.HasPrefix(n, "process_") })
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("runtime metrics %v, want %v", got, want)
	}
}

func platformHasProcessMetrics(g prometheus.Gatherer) bool {
	fs, _ := g.Gather()
	for _, f := range fs {
		if f.GetName() == "process_resident_memory_bytes" {
			return true
		}
	}
	return false
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// Run flushes at the start of each minute, stamping the minute that
// ended, and once more at shutdown, stamping the minute under way.
func TestRunFlushesOnTheMinuteAndAtShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "ecsworker_things_total", Help: "h"})
		reg.MustRegister(c)
		var out syncBuffer
		e, err := emf.New(emf.Options{Gatherer: reg, Out: &out, Dimensions: []emf.Dimension{{Name: "pool", Value: "p"}}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- e.Run(ctx, func(err error) { t.Error(err) }) }()
		next := start.Truncate(time.Minute).Add(time.Minute)

		time.Sleep(next.Sub(start) / 2)
		c.Add(4)
		synctest.Wait()
		if got := out.take(); got != "" {
			t.Fatalf("written before the minute ended: %s", got)
		}
		time.Sleep(time.Until(next))
		synctest.Wait()
		recs := parse(t, out.take())
		if len(recs) != 1 || !recs[0].Timestamp.Equal(next.Add(-time.Minute)) || recs[0].Metrics["ecsworker_things_total"].Number != 4 {
			t.Fatalf("first minute: %+v", recs)
		}
		time.Sleep(30 * time.Second)
		c.Inc()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		recs = parse(t, out.take())
		if len(recs) != 1 || !recs[0].Timestamp.Equal(next) || recs[0].Metrics["ecsworker_things_total"].Number != 1 {
			t.Fatalf("shutdown flush: %+v", recs)
		}
	})
}

func parse(t *testing.T, s string) []emftest.Record {
	t.Helper()
	recs, err := emftest.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}
