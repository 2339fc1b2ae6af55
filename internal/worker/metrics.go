package worker

import (
	"github.com/prometheus/client_golang/prometheus"
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
	}
	m.Registry.MustRegister(m.polls, m.claims, m.submissions, m.submitting, m.inFlight, m.runTasks,
		m.scheduledToRunTask, m.stops, m.crashes, m.cancellations,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}
