package startstats

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/startphase"
)

func secs(v ...float64) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, s := range v {
		out[i] = time.Duration(s * float64(time.Second))
	}
	return out
}

func TestPercentile(t *testing.T) {
	ten := secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	tests := []struct {
		name   string
		values []time.Duration
		p      float64
		want   float64 // seconds
	}{
		{"no values", nil, 50, 0},
		{"one value is every percentile", secs(7), 50, 7},
		{"one value, p95", secs(7), 95, 7},
		{"two values, p50 is the lower (rank ceil(1.0) = 1)", secs(3, 9), 50, 3},
		{"two values, p95 is the upper", secs(3, 9), 95, 9},
		{"ten values, p50 is the 5th", ten, 50, 5},
		{"ten values, p95 is the 10th (rank ceil(9.5))", ten, 95, 10},
		{"ten values, p90 is the 9th", ten, 90, 9},
		{"ten values, p100 is the largest", ten, 100, 10},
		{"three values, p50 is the middle", secs(1, 2, 30), 50, 2},
		{"twenty values, p95 is the 19th", secs(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20), 95, 19},
		{"p0 is no rank", ten, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.values, tt.p); got != secs(tt.want)[0] {
				t.Errorf("Percentile(%v, %v) = %v, want %vs", tt.values, tt.p, got, tt.want)
			}
		})
	}
}

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func TestReadRun(t *testing.T) {
	started := t0.Add(80 * time.Second)
	tests := []struct {
		name       string
		labels     map[string]any
		startTime  time.Time
		recorded   bool
		notStarted bool
		problem    string
		want       map[startphase.Phase]float64
		capacity   string
	}{
		{
			name: "every label",
			labels: map[string]any{"ecsworker.start.queueing-s": 2.0, "ecsworker.start.provisioning-s": 9.0, "ecsworker.start.image-pull-s": 58.0,
				"ecsworker.start.container-start-s": 7.0, "ecsworker.start.flow-start-s": 14.0, "ecsworker.capacity": "FARGATE",
				"prefect.worker.name": "w1"},
			startTime: started, recorded: true, capacity: "FARGATE",
			want: map[startphase.Phase]float64{startphase.Queueing: 2, startphase.Provisioning: 9, startphase.ImagePull: 58, startphase.ContainerStart: 7, startphase.FlowStart: 14},
		},
		{
			name: "flow start from start_time minus task-started-at",
			labels: map[string]any{"ecsworker.start.image-pull-s": 30.5, "ecsworker.start.task-started-at": t0.Add(60 * time.Second).Format(time.RFC3339Nano),
				"ecsworker.capacity": "FARGATE_SPOT"},
			startTime: started, recorded: true, capacity: "FARGATE_SPOT",
			want: map[startphase.Phase]float64{startphase.ImagePull: 30.5, startphase.FlowStart: 20},
		},
		{
			name:      "the flow-start label wins over start_time",
			labels:    map[string]any{"ecsworker.start.flow-start-s": 3.0, "ecsworker.start.task-started-at": t0.Format(time.RFC3339)},
			startTime: started, recorded: true,
			want: map[startphase.Phase]float64{startphase.FlowStart: 3},
		},
		{
			name:     "task started, run not Running yet: no flow start",
			labels:   map[string]any{"ecsworker.start.task-started-at": t0.Format(time.RFC3339), "ecsworker.capacity": "EC2"},
			recorded: true, capacity: "EC2",
			want: map[startphase.Phase]float64{},
		},
		{
			name:     "numeric strings, as another client may write them",
			labels:   map[string]any{"ecsworker.start.provisioning-s": "12.25"},
			recorded: true,
			want:     map[startphase.Phase]float64{startphase.Provisioning: 12.25},
		},
		{
			name:      "no labels, started: an older worker",
			labels:    map[string]any{"prefect.flow.id": "f"},
			startTime: started,
			want:      map[startphase.Phase]float64{},
		},
		{
			name:       "no labels, not started",
			labels:     nil,
			notStarted: true,
			want:       map[startphase.Phase]float64{},
		},
		{
			name:      "malformed number",
			labels:    map[string]any{"ecsworker.start.image-pull-s": "slow", "ecsworker.start.queueing-s": 1.0},
			startTime: started,
			problem:   "flow run label ecsworker.start.image-pull-s is slow, not a number of seconds",
			want:      map[startphase.Phase]float64{},
		},
		{
			name:    "negative seconds",
			labels:  map[string]any{"ecsworker.start.queueing-s": -4.0},
			problem: "ecsworker.start.queueing-s is -4",
			want:    map[startphase.Phase]float64{},
		},
		{
			name:      "malformed time",
			labels:    map[string]any{"ecsworker.start.task-started-at": "yesterday"},
			startTime: started,
			problem:   "flow run label ecsworker.start.task-started-at is yesterday, not an RFC 3339 time",
			want:      map[startphase.Phase]float64{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ReadRun("id", "name", tt.labels, tt.startTime)
			if r.Recorded != tt.recorded || r.NotStarted != tt.notStarted {
				t.Errorf("recorded %v not started %v, want %v %v", r.Recorded, r.NotStarted, tt.recorded, tt.notStarted)
			}
			if (tt.problem == "") != (r.Problem == "") || !strings.Contains(r.Problem, tt.problem) {
				t.Errorf("problem %q, want one containing %q", r.Problem, tt.problem)
			}
			if r.Record.Capacity != tt.capacity {
				t.Errorf("capacity %q, want %q", r.Record.Capacity, tt.capacity)
			}
			for _, p := range startphase.Phases {
				d, ok := r.Record.Get(p)
				want, known := tt.want[p]
				if ok != known || ok && d != secs(want)[0] {
					t.Errorf("%s = %v (known %v), want %vs (known %v)", p, d, ok, want, known)
				}
			}
		})
	}
}

func record(q, prov, pull, cont, flow float64, capacity string) Run {
	var r Run
	r.Recorded = true
	r.Record.Capacity = capacity
	for i, v := range []float64{q, prov, pull, cont, flow} {
		if v >= 0 {
			r.Record.Set(startphase.Phases[i], secs(v)[0])
		}
	}
	return r
}

func TestSummary(t *testing.T) {
	var s Summary
	for i := range 10 {
		s.Add("d1", "etl/nightly", record(1, 9, 50+float64(i), 7, 14, "FARGATE"))
	}
	s.Add("d1", "etl/nightly", record(1, 9, -1, -1, -1, "FARGATE_SPOT")) // a pull that failed: no pull, no start
	s.Add("d1", "etl/nightly", Run{NotStarted: true})
	s.Add("d1", "etl/nightly", Run{})
	s.Add("d1", "etl/nightly", Run{ID: "r-bad", Name: "bad-run", Problem: "flow run label ecsworker.start.queueing-s is x"})
	s.Add("", "(no deployment)", record(0.5, 8, 4, 1, 3, "EC2"))

	got := s.Deployments()
	if len(got) != 2 || got[0].Name != "(no deployment)" || got[1].Name != "etl/nightly" {
		t.Fatalf("deployments %+v", got)
	}
	d := got[1]
	if d.Runs != 14 || d.Recorded != 11 || d.NotStarted != 1 || d.Unrecorded != 1 || len(d.Malformed) != 1 || d.Malformed[0].Name != "bad-run" {
		t.Errorf("counts %d runs, %d recorded, %d not started, %d unrecorded, malformed %v", d.Runs, d.Recorded, d.NotStarted, d.Unrecorded, d.Malformed)
	}
	want := []PhaseStats{
		{startphase.Queueing, 11, secs(1)[0], secs(1)[0]},
		{startphase.Provisioning, 11, secs(9)[0], secs(9)[0]},
		{startphase.ImagePull, 10, secs(54)[0], secs(59)[0]},
		{startphase.ContainerStart, 10, secs(7)[0], secs(7)[0]},
		{startphase.FlowStart, 10, secs(14)[0], secs(14)[0]},
	}
	if !slices.Equal(d.Phases, want) {
		t.Errorf("phases\n got %+v\nwant %+v", d.Phases, want)
	}
	if !slices.Equal(d.Capacity, []Capacity{{"FARGATE", 10}, {"FARGATE_SPOT", 1}}) {
		t.Errorf("capacity %+v", d.Capacity)
	}
	if d.Dominant == nil || d.Dominant.Phase != startphase.ImagePull || d.Dominant.Total != secs(85)[0] {
		t.Errorf("dominant %+v, want the image pull of 54 s in 85 s", d.Dominant)
	}
	if got[0].Dominant != nil {
		t.Errorf("a 16.5 s start has no dominant phase: %+v", got[0].Dominant)
	}
}

func stats(p50 ...float64) []PhaseStats {
	out := make([]PhaseStats, len(p50))
	for i, v := range p50 {
		out[i] = PhaseStats{Phase: startphase.Phases[i], Count: 1, P50: secs(v)[0]}
		if v < 0 {
			out[i] = PhaseStats{Phase: startphase.Phases[i]}
		}
	}
	return out
}

func TestDominantPhase(t *testing.T) {
	tests := []struct {
		name   string
		phases []PhaseStats
		want   startphase.Phase
		none   bool
	}{
		{"image pull", stats(1, 9, 58, 7, 14), startphase.ImagePull, false},
		{"provisioning", stats(1, 45, 10, 2, 10), startphase.Provisioning, false},
		{"flow start", stats(0, 8, 5, 1, 60), startphase.FlowStart, false},
		{"queueing", stats(120, 9, 10, 1, 10), startphase.Queueing, false},
		{"container start", stats(0, 5, 5, 30, 5), startphase.ContainerStart, false},
		{"exactly 40 % dominates", stats(0, 20, 40, 20, 20), startphase.ImagePull, false},
		{"under 40 %: no phase explains the start", stats(10, 30, 39, 10, 15), 0, true},
		{"a fast start: nothing worth winning", stats(0.5, 8, 2, 1, 3), 0, true},
		{"phases not recorded are left out of the total", stats(-1, 9, 20, -1, -1), startphase.ImagePull, false},
		{"nothing recorded", stats(-1, -1, -1, -1, -1), 0, true},
		{"all zero", stats(0, 0, 0, 0, 0), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DominantPhase(tt.phases)
			switch {
			case tt.none && got != nil:
				t.Errorf("dominant %+v, want none", got)
			case !tt.none && (got == nil || got.Phase != tt.want):
				t.Errorf("dominant %+v, want %s", got, tt.want)
			}
		})
	}
}

func TestAdvice(t *testing.T) {
	const ecr = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/etl:v3"
	dep := func(capacity string, p50 ...float64) Deployment {
		d := Deployment{Phases: stats(p50...), Capacity: []Capacity{{capacity, 3}}}
		d.Dominant = DominantPhase(d.Phases)
		return d
	}
	tests := []struct {
		name  string
		d     Deployment
		h     Hints
		wants []string
		not   []string
	}{
		{
			name: "image pull, ECR image in another region",
			d:    dep("FARGATE", 1, 9, 58, 7, 14),
			h:    Hints{Image: ecr, ImageRegion: "eu-west-1", ImageBytes: 812_400_000, Region: "us-east-1"},
			wants: []string{"the image pull takes 58 s of a typical 89 s start (p50, 65 %)", "a smaller image", "it is 812.4 MB in ECR",
				"in the cluster's region (us-east-1; it is in eu-west-1)", "com.amazonaws.us-east-1.ecr.dkr and com.amazonaws.us-east-1.ecr.api",
				"S3 gateway endpoint", "SOCI index (`soci create IMAGE`", "zstd-compressed layers", "compression=zstd"},
		},
		{
			name:  "image pull from Docker Hub",
			d:     dep("FARGATE", 1, 9, 58, 7, 14),
			h:     Hints{Image: "prefecthq/prefect:3-latest"},
			wants: []string{"the image in ECR in the cluster's region rather than Docker Hub", "com.amazonaws.REGION.ecr.dkr"},
			not:   []string{"in ECR;"},
		},
		{
			name:  "image pull from another registry",
			d:     dep("FARGATE", 1, 9, 58, 7, 14),
			h:     Hints{Image: "ghcr.io/acme/etl:1"},
			wants: []string{"rather than ghcr.io"},
		},
		{
			name:  "image pull, ECR in the same region",
			d:     dep("FARGATE", 1, 9, 58, 7, 14),
			h:     Hints{Image: ecr, ImageRegion: "eu-west-1"},
			wants: []string{"ECR in the same region as the cluster (the image is in eu-west-1)", "com.amazonaws.eu-west-1.ecr.api"},
		},
		{
			name:  "image pull, ECR in the cluster's region already",
			d:     dep("FARGATE", 1, 9, 58, 7, 14),
			h:     Hints{Image: ecr, ImageRegion: "eu-west-1", Region: "eu-west-1"},
			wants: []string{"com.amazonaws.eu-west-1.ecr.api"},
			not:   []string{"same region", "cluster's region"},
		},
		{
			name:  "provisioning on Fargate",
			d:     dep("FARGATE_SPOT", 1, 45, 10, 2, 10),
			wants: []string{"provisioning takes 45 s", "on Fargate: an EC2 capacity provider with a warm pool", "`ecsworker infra deploy-capacity --cluster NAME ...`", "capacity_provider_strategy"},
		},
		{
			name:  "provisioning on EC2",
			d:     dep("my-ec2-provider", 1, 45, 10, 2, 10),
			wants: []string{"the EC2 capacity provider is launching instances", "warm pool", "`ecsworker infra deploy-capacity --cluster NAME ...`", "target capacity below 100"},
			not:   []string{"on Fargate"},
		},
		{
			name:  "flow start, with what the deployment does",
			d:     dep("FARGATE", 0, 8, 5, 1, 60),
			h:     Hints{ExtraPipPackages: true, PipInPullSteps: true, GitClone: true},
			wants: []string{"the flow start takes 60 s", "EXTRA_PIP_PACKAGES", "`pip install`", "bake them in", "git_clone", "Here the job's env sets EXTRA_PIP_PACKAGES, and a pull step runs pip install, and a pull step clones a git repository."},
		},
		{
			name:  "flow start, nothing found",
			d:     dep("FARGATE", 0, 8, 5, 1, 60),
			wants: []string{"EXTRA_PIP_PACKAGES", "Heavy pull steps"},
			not:   []string{"Here "},
		},
		{
			name:  "queueing",
			d:     dep("FARGATE", 120, 9, 10, 1, 10),
			wants: []string{"queueing takes 120 s of a typical 150 s start", "`ecsworker worker start --limit N`", "`--aws-budget RunTask=RATE:BURST`", "more workers"},
		},
		{
			name:  "container start",
			d:     dep("FARGATE", 0, 5, 5, 30, 5),
			wants: []string{"the container start takes 30 s", "dependsOn", "`ecsworker render"},
		},
		{
			name: "no dominant phase, no advice",
			d:    dep("FARGATE", 0.5, 8, 2, 1, 3),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Advice(tt.d, tt.h)
			if len(tt.wants) == 0 && got != "" {
				t.Errorf("advice %q, want none", got)
			}
			for _, w := range tt.wants {
				if !strings.Contains(got, w) {
					t.Errorf("advice lacks %q:\n%s", w, got)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("advice has %q:\n%s", n, got)
				}
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{41_900_000: "41.9 MB", 812_400_000: "812.4 MB", 1_210_000_000: "1.21 GB", 0: "0.0 MB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
