package worker

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ecsworker/ecsworker/internal/awsclient"
)

// Metrics are the worker's Prometheus metrics, on a registry of their own
// so that tests and several workers in one process do not collide.
type Metrics struct {
	Registry *prometheus.Registry

	polls              prometheus.Counter
	claims             *prometheus.CounterVec
	submissions        *prometheus.CounterVec
	submitting         prometheus.Gauge
	inFlight           prometheus.Gauge
	runTasks           prometheus.Counter
	scheduledToRunTask prometheus.Histogram
	stops              *prometheus.CounterVec
	crashes            *prometheus.CounterVec
	cancellations      prometheus.Counter
	budgetShare        prometheus.Gauge
	startPhases        *prometheus.HistogramVec
	capacityFallbacks  *prometheus.CounterVec
}

// NewMetrics makes the metrics and registers them.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		polls:    prometheus.NewCounter(prometheus.CounterOpts{Name: "ecsworker_polls_total", Help: "Successful polls for scheduled flow runs."}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecsworker_claims_total",
			Help: "PENDING proposals by outcome (accepted, aborted, rejected, wait, error)."}, []string{"outcome"}),
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecsworker_submissions_total",
			Help: "Submissions by outcome (submitted, crashed, deferred, deployment_missing)."}, []string{"outcome"}),
		submitting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ecsworker_submissions_in_progress", Help: "Flow runs being submitted."}),
		inFlight:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "ecsworker_runs_in_flight", Help: "Flow runs whose ECS task is followed."}),
		runTasks:   prometheus.NewCounter(prometheus.CounterOpts{Name: "ecsworker_tasks_started_total", Help: "ECS tasks started (or found again by client token)."}),
		scheduledToRunTask: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "ecsworker_scheduled_to_runtask_seconds",
			Help: "Time from a run's scheduled start to its RunTask.", Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300}}),
		stops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecsworker_task_stops_total",
			Help: "Stopped tasks by diagnosed cause."}, []string{"cause"}),
		crashes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecsworker_crashes_total",
			Help: "Flow runs reported Crashed after their task stopped, by cause."}, []string{"cause"}),
		cancellations: prometheus.NewCounter(prometheus.CounterOpts{Name: "ecsworker_cancellations_total", Help: "Tasks stopped for runs cancelled before their flow started."}),
		capacityFallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ecsworker_capacity_fallbacks_total",
			Help: "Moves to the next capacity_fallback step, by capacity left and taken (FARGATE_SPOT, FARGATE, EC2, a provider) and reason (no_capacity, spot_interruption)."}, []string{"from", "to", "reason"}),
		budgetShare: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ecsworker_aws_budget_share_workers",
			Help: "Workers of the pool (ONLINE in Prefect, this one included) the AWS call budget is divided among; 1: this worker has all of it."}),
	}
	m.startPhases = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ecsworker_start_phase_seconds",
		Help: "Flow run start phases (queueing: scheduled to RunTask; provisioning: task createdAt to pullStartedAt; image_pull; " +
			"container_start: pullStoppedAt to startedAt; flow_start: startedAt to the run entering Running), by pool, " +
			"deployment (flow/deployment; the first 100 distinct, then \"other\"; \"unknown\" for runs adopted after a restart) " +
			"and capacity (capacity provider, else launch type).",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800}},
		[]string{"pool", "deployment", "capacity", "phase"})
	m.budgetShare.Set(1)
	m.Registry.MustRegister(m.polls, m.claims, m.submissions, m.submitting, m.inFlight, m.runTasks,
		m.scheduledToRunTask, m.stops, m.crashes, m.cancellations, m.budgetShare, m.startPhases, m.capacityFallbacks,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// budgetCollector exposes the AWS API budget's counters: calls per action
// (RunTask, RegisterTaskDefinition, DescribeTasks, ...), the throttles AWS
// answered anyway, and how long calls waited on the client-side budget.
type budgetCollector struct {
	budget                          *awsclient.Budget
	calls, throttles, waits, waited *prometheus.Desc
}

func newBudgetCollector(b *awsclient.Budget) *budgetCollector {
	return &budgetCollector{
		budget:    b,
		calls:     prometheus.NewDesc("ecsworker_aws_calls_total", "AWS API calls (attempts) by action.", []string{"action"}, nil),
		throttles: prometheus.NewDesc("ecsworker_aws_throttles_total", "AWS API attempts answered with throttling, by action.", []string{"action"}, nil),
		waits:     prometheus.NewDesc("ecsworker_aws_budget_waits_total", "AWS API calls that waited for the client-side budget, by action.", []string{"action"}, nil),
		waited:    prometheus.NewDesc("ecsworker_aws_budget_wait_seconds_total", "Time AWS API calls waited for the client-side budget, by action.", []string{"action"}, nil),
	}
}

func (c *budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.calls
	ch <- c.throttles
	ch <- c.waits
	ch <- c.waited
}

func (c *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	for action, n := range c.budget.Counters() {
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(n.Calls), action)
		ch <- prometheus.MustNewConstMetric(c.throttles, prometheus.CounterValue, float64(n.Throttles), action)
		ch <- prometheus.MustNewConstMetric(c.waits, prometheus.CounterValue, float64(n.Waits), action)
		ch <- prometheus.MustNewConstMetric(c.waited, prometheus.CounterValue, n.WaitTime.Seconds(), action)
	}
}
