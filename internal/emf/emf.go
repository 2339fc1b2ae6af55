// Package emf writes a Prometheus registry as CloudWatch Embedded Metric
// Format records: JSON log lines that CloudWatch Logs turns into metrics,
// so that a worker on ECS publishes its metrics through the log stream
// awslogs already ships, without any CloudWatch permission.
//
// It works off Gather() alone, so that every metric registered later
// appears without edits here. Records are aggregated per minute:
//
//   - counters are written as their increase since the last flush;
//   - gauges (and untyped metrics) as their value;
//   - histograms as an EMF distribution, Values (the upper bound of each
//     bucket that was hit; the largest finite bound, or the mean beyond it
//     when higher, for the +Inf bucket) and Counts (the bucket's new
//     observations), so that CloudWatch computes percentiles and the
//     sample count; a histogram with no new observation is left out;
//   - summaries as <name>_count and <name>_sum increases.
//
// Every label is a dimension, next to the exporter's own (pool). A series
// labelled beyond those is also rolled up: without its deployment label
// (when it has one) and to the exporter's dimensions alone, so that alarms
// and graphs can sum over deployments and causes. A phase label says what
// is measured rather than splitting it (queueing and image pull seconds
// are not one distribution), so it stays in every rollup.
package emf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// CloudWatch's limits for EMF records and metrics.
const (
	// MaxMetricsPerRecord is the most metrics one EMF record may carry.
	MaxMetricsPerRecord = 100
	// MaxDimensions is the most dimensions in one dimension set.
	MaxDimensions = 30
	// MaxNameLength is the longest metric, dimension or namespace name.
	MaxNameLength = 255
	// MaxDimensionValueLength is the longest dimension value.
	MaxDimensionValueLength = 1024
	// MaxValues is the most values of a distribution in one record.
	MaxValues = 100
	// DefaultMaxRecordBytes keeps a record under the 16 KiB at which the
	// awslogs driver in non-blocking mode splits a line into several log
	// events (moby/moby#41794), which would no longer be EMF.
	DefaultMaxRecordBytes = 16000
)

// DefaultNamespace is the CloudWatch namespace of the worker's metrics.
const DefaultNamespace = "ecsworker"

// RuntimeMetrics are the Go runtime and process metrics kept in EMF:
// goroutines (a leak shows there first), the heap in use (what GOMEMLIMIT
// bounds) and the resident memory (what the container limit bounds). The
// others are for profiling, not for a dashboard, and would cost a custom
// metric each.
var RuntimeMetrics = []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes"}

// Include is the default choice of metrics: all but the Go runtime,
// process and promhttp collectors' own, except RuntimeMetrics.
func Include(name string) bool {
	if slices.Contains(RuntimeMetrics, name) {
		return true
	}
	for _, p := range []string{"go_", "process_", "promhttp_"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	return true
}

// Dimension is a dimension name and value.
type Dimension struct{ Name, Value string }

// Options configure an Exporter.
type Options struct {
	// Gatherer is read at each flush.
	Gatherer prometheus.Gatherer
	// Out gets each record in one Write call, one JSON object ending in a
	// newline.
	Out io.Writer
	// Namespace is the CloudWatch namespace (DefaultNamespace if empty).
	Namespace string
	// Dimensions are on every record (the pool); a label of the same name
	// wins over one.
	Dimensions []Dimension
	// Include chooses the metric families by name (nil: Include).
	Include func(name string) bool
	// MaxRecordBytes bounds a record's size (0: DefaultMaxRecordBytes).
	MaxRecordBytes int
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Exporter turns a registry into EMF records. Its methods are safe for
// concurrent use.
type Exporter struct {
	o Options

	mu       sync.Mutex
	counters map[string]float64
	hists    map[string]histState
	reported map[string]bool
}

type histState struct {
	count   uint64
	buckets []uint64 // cumulative, as gathered
}

// New checks the options and returns an exporter.
func New(o Options) (*Exporter, error) {
	if o.Gatherer == nil || o.Out == nil {
		return nil, errors.New("emf: a gatherer and an output are needed")
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if err := CheckNamespace(o.Namespace); err != nil {
		return nil, err
	}
	for _, d := range o.Dimensions {
		if d.Name == "" || len(d.Name) > MaxNameLength || d.Value == "" || len(d.Value) > MaxDimensionValueLength {
			return nil, fmt.Errorf("emf: dimension %q=%q: names need 1 to %d characters and values 1 to %d", d.Name, d.Value, MaxNameLength, MaxDimensionValueLength)
		}
	}
	if len(o.Dimensions) > MaxDimensions {
		return nil, fmt.Errorf("emf: %d dimensions, CloudWatch takes at most %d", len(o.Dimensions), MaxDimensions)
	}
	if o.Include == nil {
		o.Include = Include
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Exporter{o: o, counters: map[string]float64{}, hists: map[string]histState{}, reported: map[string]bool{}}, nil
}

// CheckNamespace applies CloudWatch's rule for namespaces: 1 to 255
// characters, none of them a colon, and not starting with "AWS/".
func CheckNamespace(ns string) error {
	switch {
	case ns == "":
		return fmt.Errorf("--emf-namespace is empty: give a CloudWatch namespace, e.g. %s", DefaultNamespace)
	case len(ns) > MaxNameLength:
		return fmt.Errorf("--emf-namespace %q: at most %d characters", ns, MaxNameLength)
	case strings.Contains(ns, ":"):
		return fmt.Errorf("--emf-namespace %q: CloudWatch namespaces cannot contain ':'", ns)
	case strings.HasPrefix(ns, "AWS/"):
		return fmt.Errorf("--emf-namespace %q: namespaces starting with AWS/ are AWS's; choose another, e.g. ecsworker", ns)
	}
	return nil
}

// Run flushes at the start of every minute (the data of the minute that
// ended) and once more when ctx is done (the minute so far), and returns
// the error of that last flush. Errors of the other flushes go to onErr.
func (e *Exporter) Run(ctx context.Context, onErr func(error)) error {
	for {
		now := e.o.Now()
		next := now.Truncate(time.Minute).Add(time.Minute)
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return e.Flush(e.o.Now().Truncate(time.Minute))
		case <-t.C:
			if err := e.Flush(next.Add(-time.Minute)); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// metric is one value member of a record.
type metric struct {
	name, unit string
	value      []byte // JSON
}

// group is the metrics that share dimension values, hence a record.
type group struct {
	dims    []Dimension
	metrics []metric
}

// Flush gathers the registry and writes the records of the data since the
// last flush, stamped ts (the minute they belong to). It returns the
// problems not reported before (a metric CloudWatch would refuse is left
// out, and said once); the other metrics are written anyway.
func (e *Exporter) Flush(ts time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	families, err := e.o.Gatherer.Gather()
	var problems []error
	if err != nil {
		problems = append(problems, fmt.Errorf("emf: gathering metrics: %w", err))
	}
	groups := map[string]*group{}
	var order []string
	for _, f := range families {
		name := f.GetName()
		if !e.o.Include(name) {
			continue
		}
		for _, m := range f.GetMetric() {
			dims, key, perr := e.dimensions(m)
			if perr != nil {
				problems = append(problems, fmt.Errorf("emf: %s: %w", name, perr))
				continue
			}
			ms, perr := e.values(name, key, f.GetType(), m)
			if perr != nil {
				problems = append(problems, fmt.Errorf("emf: %s%s: %w", name, labelString(m), perr))
				continue
			}
			if len(ms) == 0 {
				continue
			}
			g := groups[key]
			if g == nil {
				g = &group{dims: dims}
				groups[key] = g
				order = append(order, key)
			}
			g.metrics = append(g.metrics, ms...)
		}
	}
	sort.Strings(order)
	for _, k := range order {
		g := groups[k]
		sort.Slice(g.metrics, func(i, j int) bool { return g.metrics[i].name < g.metrics[j].name })
		for _, rec := range e.records(g, ts) {
			if _, err := e.o.Out.Write(rec); err != nil {
				return fmt.Errorf("emf: writing a record: %w", err)
			}
		}
	}
	var fresh []error
	for _, p := range problems {
		if !e.reported[p.Error()] {
			e.reported[p.Error()] = true
			fresh = append(fresh, p)
		}
	}
	return errors.Join(fresh...)
}

// dimensions are a series' dimension values, the exporter's first, and
// the key of its group.
func (e *Exporter) dimensions(m *dto.Metric) ([]Dimension, string, error) {
	dims := slices.Clone(e.o.Dimensions)
	for _, l := range m.GetLabel() {
		n, v := l.GetName(), l.GetValue()
		if v == "" {
			continue // Prometheus's absent label
		}
		if len(n) > MaxNameLength {
			return nil, "", fmt.Errorf("label %q is longer than CloudWatch's %d characters for a dimension name", n, MaxNameLength)
		}
		if len(v) > MaxDimensionValueLength {
			return nil, "", fmt.Errorf("label %s's value is %d characters, over CloudWatch's %d", n, len(v), MaxDimensionValueLength)
		}
		if i := slices.IndexFunc(dims, func(d Dimension) bool { return d.Name == n }); i >= 0 {
			dims[i].Value = v
			continue
		}
		dims = append(dims, Dimension{n, v})
	}
	if len(dims) > MaxDimensions {
		return nil, "", fmt.Errorf("%d dimensions, over CloudWatch's %d", len(dims), MaxDimensions)
	}
	var key strings.Builder
	for _, d := range dims {
		key.WriteString(d.Name + "\x00" + d.Value + "\x00")
	}
	return dims, key.String(), nil
}

func labelString(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+strconv.Quote(l.GetValue()))
	}
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Unit is the CloudWatch unit of a metric, from Prometheus's naming
// convention; "" leaves it out (CloudWatch's None).
func Unit(name string) string {
	name = strings.TrimSuffix(name, "_total")
	switch {
	case strings.HasSuffix(name, "_seconds"):
		return "Seconds"
	case strings.HasSuffix(name, "_bytes"):
		return "Bytes"
	}
	return ""
}

// values are the value members of one series for this flush, and update
// the state the next flush's increases are taken from.
func (e *Exporter) values(name, key string, typ dto.MetricType, m *dto.Metric) ([]metric, error) {
	if len(name) > MaxNameLength {
		return nil, fmt.Errorf("the name is longer than CloudWatch's %d characters", MaxNameLength)
	}
	id := name + "\x00" + key
	switch typ {
	case dto.MetricType_COUNTER:
		return e.number(name, e.increase(id, m.GetCounter().GetValue()))
	case dto.MetricType_GAUGE:
		return e.number(name, m.GetGauge().GetValue())
	case dto.MetricType_UNTYPED:
		return e.number(name, m.GetUntyped().GetValue())
	case dto.MetricType_SUMMARY:
		s := m.GetSummary()
		c, err := e.number(name+"_count", e.increase(id+"count", float64(s.GetSampleCount())))
		if err != nil {
			return nil, err
		}
		sum, err := e.number(name+"_sum", e.increase(id+"sum", s.GetSampleSum()))
		return append(c, sum...), err
	case dto.MetricType_HISTOGRAM:
		return e.histogram(name, id, m.GetHistogram())
	}
	return nil, fmt.Errorf("metric type %s has no EMF form", typ)
}

// increase is a counter's increase since the last flush; a counter that
// went down was reset (a new process behind the same registry), and
// counts from zero.
func (e *Exporter) increase(id string, v float64) float64 {
	prev := e.counters[id]
	e.counters[id] = v
	if v < prev {
		return v
	}
	return v - prev
}

func (e *Exporter) number(name string, v float64) ([]metric, error) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("value %v is not a number CloudWatch takes", v)
	}
	return []metric{{name: name, unit: Unit(name), value: strconv.AppendFloat(nil, v, 'g', -1, 64)}}, nil
}

// histogram is a histogram's new observations as an EMF distribution.
func (e *Exporter) histogram(name, id string, h *dto.Histogram) ([]metric, error) {
	prev := e.hists[id]
	cur := histState{count: h.GetSampleCount(), buckets: make([]uint64, len(h.GetBucket()))}
	for i, b := range h.GetBucket() {
		cur.buckets[i] = b.GetCumulativeCount()
	}
	e.hists[id] = cur
	if cur.count < prev.count || len(prev.buckets) != len(cur.buckets) {
		prev = histState{buckets: make([]uint64, len(cur.buckets))} // reset
	}
	if cur.count == prev.count {
		return nil, nil
	}
	var values []float64
	var counts []uint64
	var below, belowSum float64 // observations and value of the finite buckets
	var lastBound float64
	for i, b := range h.GetBucket() {
		bound := b.GetUpperBound()
		if math.IsInf(bound, 1) {
			break
		}
		lastBound = bound
		n := cur.buckets[i] - prev.buckets[i]
		if i > 0 {
			n -= cur.buckets[i-1] - prev.buckets[i-1]
		}
		if n > 0 {
			values = append(values, bound)
			counts = append(counts, n)
			below += float64(n)
			belowSum += float64(n) * bound
		}
	}
	if over := float64(cur.count-prev.count) - below; over > 0 {
		// Beyond the last bound only the sum tells how far: the mean of
		// those observations, taking the others at their bounds.
		sumDelta := h.GetSampleSum() - e.counters[id+"sum"]
		if h.GetSampleSum() < e.counters[id+"sum"] {
			sumDelta = h.GetSampleSum()
		}
		v := max(lastBound, (sumDelta-belowSum)/over)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			v = lastBound
		}
		values = append(values, v)
		counts = append(counts, uint64(over))
	}
	e.counters[id+"sum"] = h.GetSampleSum()
	if len(values) > MaxValues {
		return nil, fmt.Errorf("%d buckets hit, over EMF's %d values per metric", len(values), MaxValues)
	}
	var b bytes.Buffer
	b.WriteString(`{"Values":[`)
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(strconv.AppendFloat(nil, v, 'g', -1, 64))
	}
	b.WriteString(`],"Counts":[`)
	for i, c := range counts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(strconv.AppendUint(nil, c, 10))
	}
	b.WriteString(`]}`)
	return []metric{{name: name, unit: Unit(name), value: b.Bytes()}}, nil
}

// keptInRollups are the labels that stay in every dimension set: what a
// series measures, not a breakdown of it.
var keptInRollups = []string{"phase"}

// dimensionSets are the sets a group's metrics are published under: all
// its dimensions, then without deployment, then the exporter's alone (with
// the keptInRollups labels it has).
func (e *Exporter) dimensionSets(dims []Dimension) [][]string {
	all := make([]string, len(dims))
	for i, d := range dims {
		all[i] = d.Name
	}
	sets := [][]string{all}
	add := func(s []string) {
		if len(s) == 0 {
			return
		}
		for _, have := range sets {
			if slices.Equal(have, s) {
				return
			}
		}
		sets = append(sets, s)
	}
	if slices.Contains(all, "deployment") {
		add(slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == "deployment" }))
	}
	base := make([]string, 0, len(e.o.Dimensions)+len(keptInRollups))
	for _, d := range e.o.Dimensions {
		base = append(base, d.Name)
	}
	for _, k := range keptInRollups {
		if slices.Contains(all, k) && !slices.Contains(base, k) {
			base = append(base, k)
		}
	}
	add(base)
	return sets
}

// records encodes a group as records of at most MaxMetricsPerRecord
// metrics and MaxRecordBytes bytes (a record with a single metric may be
// larger: it cannot be split).
func (e *Exporter) records(g *group, ts time.Time) [][]byte {
	var out [][]byte
	sets := e.dimensionSets(g.dims)
	var split func(ms []metric)
	split = func(ms []metric) {
		if len(ms) > MaxMetricsPerRecord {
			split(ms[:MaxMetricsPerRecord])
			split(ms[MaxMetricsPerRecord:])
			return
		}
		rec := e.encode(g.dims, sets, ms, ts)
		if len(rec) > e.o.MaxRecordBytes && len(ms) > 1 {
			split(ms[:len(ms)/2])
			split(ms[len(ms)/2:])
			return
		}
		out = append(out, rec)
	}
	split(g.metrics)
	return out
}

func (e *Exporter) encode(dims []Dimension, sets [][]string, ms []metric, ts time.Time) []byte {
	var b bytes.Buffer
	str := func(s string) {
		j, _ := json.Marshal(s) // a string always encodes
		b.Write(j)
	}
	b.WriteString(`{"_aws":{"Timestamp":`)
	b.WriteString(strconv.FormatInt(ts.UnixMilli(), 10))
	b.WriteString(`,"CloudWatchMetrics":[{"Namespace":`)
	str(e.o.Namespace)
	b.WriteString(`,"Dimensions":[`)
	for i, s := range sets {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('[')
		for j, n := range s {
			if j > 0 {
				b.WriteByte(',')
			}
			str(n)
		}
		b.WriteByte(']')
	}
	b.WriteString(`],"Metrics":[`)
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"Name":`)
		str(m.name)
		if m.unit != "" {
			b.WriteString(`,"Unit":`)
			str(m.unit)
		}
		b.WriteByte('}')
	}
	b.WriteString(`]}]}`)
	for _, d := range dims {
		b.WriteByte(',')
		str(d.Name)
		b.WriteByte(':')
		str(d.Value)
	}
	for _, m := range ms {
		b.WriteByte(',')
		str(m.name)
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteString("}\n")
	return b.Bytes()
}
