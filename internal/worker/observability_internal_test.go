package worker

// The worker's metrics as users see them: the EMF records CloudWatch gets
// (checked against the registry), their volume at 1,000 runs an hour, the
// metrics table of the README, and the dashboards (CloudWatch in the
// service template, Grafana in deploy/grafana) naming only metrics that
// exist. Everything works off the registry, so that metrics added later
// are covered without edits here.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/cfnstack"
	"github.com/ecsworker/ecsworker/internal/emf"
	"github.com/ecsworker/ecsworker/internal/emf/emftest"
	"github.com/ecsworker/ecsworker/internal/golden"
	"github.com/ecsworker/ecsworker/internal/infra"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// descInfo is what a Desc says of a metric: name, help and labels.
type descInfo struct {
	name, help string
	labels     []string
}

var descRE = regexp.MustCompile(`^Desc\{fqName: "([^"]*)", help: "((?:[^"\\]|\\.)*)", (?:unit: "[^"]*", )?constLabels: \{[^}]*\}, variableLabels: \{([^}]*)\}\}$`)

// describe lists a collector's metrics from its descriptors (a vector's
// included, before it has any child).
func describe(t testing.TB, c prometheus.Collector) []descInfo {
	t.Helper()
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	var out []descInfo
	for d := range ch {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read descriptor %s", d)
		}
		var help string
		if err := json.Unmarshal([]byte(`"`+m[2]+`"`), &help); err != nil {
			t.Fatalf("descriptor %s: %v", d, err)
		}
		di := descInfo{name: m[1], help: help}
		if m[3] != "" {
			di.labels = strings.Split(m[3], ",")
		}
		out = append(out, di)
	}
	return out
}

// labelValue is what the exercise gives a label.
func labelValue(label string, i int) string {
	if label == "pool" {
		// A metric's pool label is the worker's own pool, which EMF's
		// pool dimension names too.
		return "etl"
	}
	return fmt.Sprintf("%s-%d", label, i)
}

// exercise moves every metric of m's fields (whatever they are, so that
// fields added later are exercised too) by round: a counter by round, a
// gauge set to round, round observations of a histogram spread over its
// buckets; vectors on the label values labelValue(label, 0).
func exercise(t testing.TB, m *Metrics, round int) {
	t.Helper()
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		// The fields are unexported; this test reads them in place.
		x := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface()
		c, ok := x.(prometheus.Collector)
		if !ok || x == prometheus.Collector(m.Registry) {
			continue
		}
		var values []string
		if ds := describe(t, c); len(ds) == 1 {
			for _, l := range ds[0].labels {
				values = append(values, labelValue(l, 0))
			}
		}
		move := func(x any) {
			switch y := x.(type) {
			case prometheus.Gauge:
				y.Set(float64(round))
			case prometheus.Counter:
				y.Add(float64(round))
			case prometheus.Observer:
				for j := range round {
					y.Observe(float64(j*j) / 4) // 0, 0.25, 1, 2.25, ... across the buckets
				}
			default:
				t.Fatalf("field %s: %T is neither a counter, a gauge nor an observer", v.Type().Field(i).Name, x)
			}
		}
		switch vec := c.(type) {
		case *prometheus.CounterVec:
			move(vec.WithLabelValues(values...))
		case *prometheus.GaugeVec:
			move(vec.WithLabelValues(values...))
		case *prometheus.HistogramVec:
			move(vec.WithLabelValues(values...))
		case *prometheus.SummaryVec:
			move(vec.WithLabelValues(values...))
		default:
			move(c)
		}
	}
}

// exercisedMetrics are the worker's metrics, the AWS budget's included,
// each with a value; it fails when a registered metric has none (a
// collector the exercise does not know yet).
func exercisedMetrics(t testing.TB) (*Metrics, *awsclient.Budget) {
	t.Helper()
	m := NewMetrics()
	b := awsclient.NewBudget(awsclient.BudgetConfig{}) // counts, never waits
	m.Registry.MustRegister(newBudgetCollector(b))
	exercise(t, m, 1)
	if err := b.Wait(context.Background(), "RunTask"); err != nil {
		t.Fatal(err)
	}
	gathered := map[string]bool{}
	for _, f := range gather(t, m.Registry) {
		gathered[f.GetName()] = true
	}
	for _, d := range describe(t, m.Registry) {
		if !gathered[d.name] {
			t.Fatalf("metric %s has no value after the exercise: teach exercise() its collector", d.name)
		}
	}
	return m, b
}

func gather(t testing.TB, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	fs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// emfNames are the metric names a family has in EMF records.
func emfNames(f *dto.MetricFamily) []string {
	if f.GetType() == dto.MetricType_SUMMARY {
		return []string{f.GetName() + "_count", f.GetName() + "_sum"}
	}
	return []string{f.GetName()}
}

// series identifies a series by its name and labels.
func series(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(name)
	for _, k := range keys {
		if k == "pool" {
			continue
		}
		fmt.Fprintf(&b, ",%s=%s", k, labels[k])
	}
	return b.String()
}

// totals are each series' counter value or histogram count, by series.
func totals(fs []*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, f := range fs {
		if !emf.Include(f.GetName()) {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[series(f.GetName(), labels)] = m.GetCounter().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[series(f.GetName(), labels)] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// recorded are the EMF records' values by series.
func recorded(recs []emftest.Record) map[string]float64 {
	out := map[string]float64{}
	for _, r := range recs {
		for name, v := range r.Metrics {
			out[series(name, r.Dimensions)] += v.Total()
		}
	}
	return out
}

// The done means of issue 16: the EMF output, decoded, is valid EMF and
// holds every metric of the registry, with the pool as a dimension and
// every label as another; counters arrive as their increases and
// histograms as their new observations, minute after minute.
func TestEMFCarriesEveryMetricOfTheRegistry(t *testing.T) {
	m, b := exercisedMetrics(t)
	var out bytes.Buffer
	exp, err := emf.New(emf.Options{Gatherer: m.Registry, Out: &out, Dimensions: []emf.Dimension{{Name: "pool", Value: "etl"}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	before := totals(gather(t, m.Registry))
	if err := exp.Flush(ts); err != nil {
		t.Fatal(err)
	}
	recs, err := emftest.Parse(&out)
	if err != nil {
		t.Fatal(err)
	}
	names := emftest.Names(recs)
	for _, f := range gather(t, m.Registry) {
		for _, n := range emfNames(f) {
			if emf.Include(f.GetName()) != slices.Contains(names, n) {
				t.Errorf("metric %s: included %v, in the EMF records %v", n, emf.Include(f.GetName()), slices.Contains(names, n))
			}
		}
		for _, s := range f.GetMetric() {
			if !emf.Include(f.GetName()) {
				continue
			}
			labels := map[string]string{"pool": "etl"}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if !hasRecord(recs, emfNames(f)[0], labels) {
				t.Errorf("no EMF record of %s with dimensions %v", f.GetName(), labels)
			}
		}
	}
	for _, r := range recs {
		if !r.Timestamp.Equal(ts) || r.Dimensions["pool"] != "etl" || r.Namespace != emf.DefaultNamespace {
			t.Errorf("record at %v, pool %q, namespace %q", r.Timestamp, r.Dimensions["pool"], r.Namespace)
		}
	}
	check := func(minute string, want map[string]float64, got map[string]float64) {
		for s, w := range want {
			if got[s] != w {
				t.Errorf("%s: %s is %v in the EMF records, want %v", minute, s, got[s], w)
			}
		}
	}
	check("first minute", before, recorded(recs))

	// A second minute: only its increases.
	exercise(t, m, 3)
	for range 2 {
		if err := b.Wait(context.Background(), "DescribeTasks"); err != nil {
			t.Fatal(err)
		}
	}
	after := totals(gather(t, m.Registry))
	out.Reset()
	if err := exp.Flush(ts.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	recs, err = emftest.Parse(&out)
	if err != nil {
		t.Fatal(err)
	}
	delta := map[string]float64{}
	for s, v := range after {
		delta[s] = v - before[s]
	}
	check("second minute", delta, recorded(recs))
}

func hasRecord(recs []emftest.Record, name string, dims map[string]string) bool {
	for _, r := range recs {
		if _, ok := r.Metrics[name]; ok && len(r.Dimensions) == len(dims) {
			same := true
			for k, v := range dims {
				same = same && r.Dimensions[k] == v
			}
			if same {
				return true
			}
		}
	}
	return false
}

// TestEMFBytesPerMinute drives the metrics as a worker serving 1,000 runs
// an hour does (5 deployments, polls every 10 s, a crash every few
// minutes, the AWS calls each run makes, the start phases of each run)
// for an hour, and reports the EMF bytes written per minute: the README's
// figure.
func TestEMFBytesPerMinute(t *testing.T) {
	m := NewMetrics()
	b := awsclient.NewBudget(awsclient.BudgetConfig{}) // counts, never waits
	m.Registry.MustRegister(newBudgetCollector(b))
	phases := m.startPhases
	var out bytes.Buffer
	exp, err := emf.New(emf.Options{Gatherer: m.Registry, Out: &out, Dimensions: []emf.Dimension{{Name: "pool", Value: "prod-ecs-pool"}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	call := func(action string, n int) {
		for range n {
			_ = b.Wait(ctx, action)
		}
	}
	deployments := []string{"etl/nightly", "etl/hourly", "reports/daily", "ml/train", "ml/score"}
	latencies := []float64{0.4, 0.8, 1.5, 3, 4, 8, 12}
	causes := []string{"OutOfMemory", "NonZeroExit", "ImagePull"}
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	runs, maxBytes := 0, 0
	for minute := range 60 {
		n := 17 // 1,000 an hour: 17, 17, 16, ...
		if minute%3 == 2 {
			n = 16
		}
		for i := range n {
			run := runs + i
			m.claims.WithLabelValues("accepted").Inc()
			m.submitting.Inc()
			m.runTasks.Inc()
			m.scheduledToRunTask.Observe(latencies[run%len(latencies)])
			m.submissions.WithLabelValues("submitted").Inc()
			m.submitting.Dec()
			dep := deployments[run%len(deployments)]
			for j, p := range []string{"queueing", "provisioning", "image_pull", "container_start", "flow_start"} {
				phases.WithLabelValues("prod-ecs-pool", dep, "FARGATE", p).Observe(float64(j+1) * latencies[(run+j)%len(latencies)])
			}
			m.stops.WithLabelValues("Succeeded").Inc()
		}
		if minute%7 == 3 {
			cause := causes[minute%len(causes)]
			m.stops.WithLabelValues(cause).Inc()
			m.crashes.WithLabelValues(cause).Inc()
		}
		if minute%20 == 5 {
			m.claims.WithLabelValues("rejected").Inc() // another worker claimed it
		}
		runs += n
		for range 6 {
			m.polls.Inc()
		}
		m.inFlight.Set(float64(n * 10)) // runs last ten minutes
		call("RunTask", n)
		call("DescribeTasks", 6)
		call("sqs:ReceiveMessage", 3)
		call("sqs:DeleteMessageBatch", 3)
		call("DescribeTaskDefinition", 1)
		if minute%10 == 0 {
			call("RegisterTaskDefinition", 1)
			call("logs:GetLogEvents", 1)
		}
		before := out.Len()
		if err := exp.Flush(start.Add(time.Duration(minute) * time.Minute)); err != nil {
			t.Fatal(err)
		}
		maxBytes = max(maxBytes, out.Len()-before)
	}
	if runs != 1000 {
		t.Fatalf("%d runs in the hour, want 1000", runs)
	}
	recs, err := emftest.Parse(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	perMinute := out.Len() / 60
	t.Logf("EMF at 1,000 runs an hour: %d bytes a minute on average (%d at most), %d records an hour, %.1f MB a month",
		perMinute, maxBytes, len(recs), float64(out.Len())*24*30/1e6)
	if perMinute > 20000 {
		t.Errorf("%d bytes of EMF a minute: more than expected", perMinute)
	}
}

// metricsDoc is the table of the README's Metrics section, from the registry.
func metricsDoc(t testing.TB) string {
	m, _ := exercisedMetrics(t)
	types := map[string]string{}
	for _, f := range gather(t, m.Registry) {
		types[f.GetName()] = strings.ToLower(f.GetType().String())
	}
	var b strings.Builder
	b.WriteString("| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n")
	ds := describe(t, m.Registry)
	sort.Slice(ds, func(i, j int) bool { return ds[i].name < ds[j].name })
	for _, d := range ds {
		if !emf.Include(d.name) && !strings.HasPrefix(d.name, "ecsworker_") {
			continue
		}
		labels := "pool (EMF)"
		if len(d.labels) > 0 {
			labels = strings.Join(d.labels, ", ")
			if !slices.Contains(d.labels, "pool") {
				labels = "pool (EMF), " + labels
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", d.name, types[d.name], labels, strings.ReplaceAll(d.help, "|", `\|`))
	}
	return b.String()
}

const (
	docBegin = "<!-- metrics table: generated by go test ./internal/worker -run TestMetricsDoc -update; do not edit -->\n"
	docEnd   = "<!-- end of metrics table -->\n"
)

// The README's metrics table is the registry's; -update rewrites it.
func TestMetricsDoc(t *testing.T) {
	const path = "../../README.md" // its Metrics section
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no table markers %q ... %q", path, docBegin, docEnd)
	}
	want := doc[:i+len(docBegin)] + metricsDoc(t) + doc[j:]
	if want == doc {
		return
	}
	if *golden.Update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is stale: run go test ./internal/worker -run TestMetricsDoc -update", path)
}

// exported are the metric names Prometheus users query: each family's,
// with a histogram's _bucket, _count and _sum series and a summary's
// _count and _sum.
func exported(t testing.TB) []string {
	m, _ := exercisedMetrics(t)
	var out []string
	for _, f := range gather(t, m.Registry) {
		n := f.GetName()
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			out = append(out, n+"_bucket", n+"_count", n+"_sum")
		case dto.MetricType_SUMMARY:
			out = append(out, n, n+"_count", n+"_sum")
		default:
			out = append(out, n)
		}
	}
	return out
}

var promName = regexp.MustCompile(`\becsworker_[a-z0-9_]+`)

// The Grafana dashboard queries only metrics the worker exports, and has
// the panels of the CloudWatch dashboard.
func TestGrafanaDashboardNamesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile("../../deploy/grafana/ecsworker.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("deploy/grafana/ecsworker.json: %v", err)
	}
	names := exported(t)
	var used []string
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			ns := promName.FindAllString(tg.Expr, -1)
			if len(ns) == 0 {
				t.Errorf("panel %q: query %q names no ecsworker metric", p.Title, tg.Expr)
			}
			for _, n := range ns {
				used = append(used, n)
				if !slices.Contains(names, n) {
					t.Errorf("panel %q: %s is not a metric the worker exports", p.Title, n)
				}
			}
		}
	}
	for _, want := range []string{"ecsworker_submissions_total", "ecsworker_crashes_total", "ecsworker_scheduled_to_runtask_seconds_bucket", "ecsworker_runs_in_flight", "ecsworker_aws_throttles_total"} {
		if !slices.Contains(used, want) {
			t.Errorf("no panel shows %s", want)
		}
	}
}

var searchName = regexp.MustCompile(`MetricName="([^"]+)"`)

// The CloudWatch dashboard and alarms of the service template name only
// metrics the EMF records carry (in the namespace the worker writes).
func TestCloudWatchDashboardNamesEMFMetrics(t *testing.T) {
	m, _ := exercisedMetrics(t)
	var out bytes.Buffer
	exp, err := emf.New(emf.Options{Gatherer: m.Registry, Out: &out, Dimensions: []emf.Dimension{{Name: "pool", Value: "p"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Flush(time.Now()); err != nil {
		t.Fatal(err)
	}
	recs, err := emftest.Parse(&out)
	if err != nil {
		t.Fatal(err)
	}
	names := emftest.Names(recs)
	tmpl, err := infra.Render(cfnstack.KindService, "img")
	if err != nil {
		t.Fatal(err)
	}
	res := tmpl.GetObject("Resources")
	var dashboards, alarms int
	for _, id := range res.Keys() {
		r := res.GetObject(id)
		props := r.GetObject("Properties")
		switch r.GetString("Type") {
		case "AWS::CloudWatch::Dashboard":
			dashboards++
			body := dashboardBody(t, props)
			widgets, _ := body["widgets"].([]any)
			if len(widgets) == 0 {
				t.Errorf("%s has no widget", id)
			}
			for _, w := range widgets {
				wm := w.(map[string]any)
				p, _ := wm["properties"].(map[string]any)
				metrics, _ := p["metrics"].([]any)
				for _, row := range metrics {
					for _, n := range widgetMetrics(row.([]any)) {
						if n.namespace == emf.DefaultNamespace && !slices.Contains(names, n.name) {
							t.Errorf("%s widget %q: %s is not in the EMF records", id, p["title"], n.name)
						}
					}
				}
			}
		case "AWS::CloudWatch::Alarm":
			var stats []*jsonv.Object
			if props.GetString("MetricName") != "" {
				stats = append(stats, props)
			}
			if ms, ok := props.Get("Metrics"); ok {
				for _, x := range ms.([]any) {
					if st := x.(*jsonv.Object).GetObject("MetricStat"); st != nil {
						stats = append(stats, st.GetObject("Metric"))
					}
				}
			}
			for _, s := range stats {
				if s.GetString("Namespace") == emf.DefaultNamespace {
					alarms++
					if !slices.Contains(names, s.GetString("MetricName")) {
						t.Errorf("alarm %s: %s is not in the EMF records", id, s.GetString("MetricName"))
					}
				}
			}
		}
	}
	if dashboards != 1 || alarms < 2 {
		t.Errorf("%d dashboards and %d alarm metrics on EMF metrics, want a dashboard and the crash and latency alarms", dashboards, alarms)
	}
}

// dashboardBody is a dashboard's body as CloudFormation substitutes it,
// the variables replaced by placeholders.
func dashboardBody(t *testing.T, props *jsonv.Object) map[string]any {
	t.Helper()
	v, _ := props.Get("DashboardBody")
	sub, ok := v.(*jsonv.Object)
	if !ok {
		t.Fatalf("DashboardBody is %T, want Fn::Sub", v)
	}
	arg, _ := sub.Get("Fn::Sub")
	var s string
	switch a := arg.(type) {
	case string:
		s = a
	case []any:
		s, _ = a[0].(string)
	}
	s = regexp.MustCompile(`\$\{[^}]+\}`).ReplaceAllString(s, "x")
	var body map[string]any
	if err := json.Unmarshal([]byte(s), &body); err != nil {
		t.Fatalf("DashboardBody is not JSON after substitution: %v", err)
	}
	return body
}

type widgetMetric struct{ namespace, name string }

// widgetMetrics are the metrics a row of a widget's metrics names: a
// [namespace, name, dimension, value, ..., {options}] row, or the
// MetricName of a SEARCH expression.
func widgetMetrics(row []any) []widgetMetric {
	if len(row) == 0 {
		return nil
	}
	if o, ok := row[0].(map[string]any); ok {
		expr, _ := o["expression"].(string)
		var out []widgetMetric
		if strings.Contains(expr, "SEARCH(") {
			ns := ""
			if i := strings.Index(expr, "{"); i >= 0 {
				ns, _, _ = strings.Cut(expr[i+1:], ",")
			}
			for _, m := range searchName.FindAllStringSubmatch(expr, -1) {
				out = append(out, widgetMetric{ns, m[1]})
			}
		}
		return out
	}
	ns, _ := row[0].(string)
	name, _ := row[1].(string)
	return []widgetMetric{{ns, name}}
}
