package startphase

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func TestCompute(t *testing.T) {
	full := Times{Scheduled: at(0), RunTask: at(2), Created: at(2.1), PullStarted: at(11.1), PullStopped: at(69.1), Started: at(76.1), Running: at(90.1)}
	tests := []struct {
		name  string
		times Times
		want  map[Phase]float64 // known phases, seconds
		total float64
		line  string
	}{
		{
			name:  "every phase",
			times: full,
			want:  map[Phase]float64{Queueing: 2, Provisioning: 9, ImagePull: 58, ContainerStart: 7, FlowStart: 14},
			total: 74,
			line:  "ECS task started in 74 s: 9 s provisioning, 58 s pulling the image, 7 s starting the container; queued 2 s in the worker before RunTask",
		},
		{
			name:  "a task that never pulled: ECS gave createdAt only",
			times: Times{Scheduled: at(0), RunTask: at(1), Created: at(1)},
			want:  map[Phase]float64{Queueing: 1},
			line:  "ECS task started (ECS reported no start times); queued 1 s in the worker before RunTask",
		},
		{
			name:  "pull started, never stopped (a pull that failed)",
			times: Times{Created: at(0), PullStarted: at(4)},
			want:  map[Phase]float64{Provisioning: 4},
			line:  "ECS task started: 4 s provisioning (ECS reported no image pull times)",
		},
		{
			name:  "started without pull times (an old agent)",
			times: Times{Created: at(0), Started: at(31)},
			want:  map[Phase]float64{},
			total: 31,
			line:  "ECS task started in 31 s (ECS reported no image pull times)",
		},
		{
			name:  "claimed ahead of its schedule by the prefetch: queueing is zero, not negative",
			times: Times{Scheduled: at(10), RunTask: at(3)},
			want:  map[Phase]float64{Queueing: 0},
			line:  "ECS task started (ECS reported no start times); queued 0 s in the worker before RunTask",
		},
		{
			name:  "Running before startedAt (two clocks): flow start is zero",
			times: Times{Started: at(5), Running: at(4.5)},
			want:  map[Phase]float64{FlowStart: 0},
			line:  "ECS task started (ECS reported no start times)",
		},
		{
			name:  "sub-second phases keep one decimal",
			times: Times{Created: at(0), PullStarted: at(0.4), PullStopped: at(1.25), Started: at(1.3)},
			want:  map[Phase]float64{Provisioning: 0.4, ImagePull: 0.85, ContainerStart: 0.05},
			total: 1.3,
			line:  "ECS task started in 1.3 s: 0.4 s provisioning, 0.9 s pulling the image, 0.1 s starting the container",
		},
		{
			name: "no times at all",
			want: map[Phase]float64{},
			line: "ECS task started (ECS reported no start times)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Compute(tt.times)
			for _, p := range Phases {
				d, ok := b.Get(p)
				want, known := tt.want[p]
				if ok != known {
					t.Errorf("%s known = %v, want %v", p, ok, known)
					continue
				}
				if ok && !near(d.Seconds(), want) {
					t.Errorf("%s = %v, want %vs", p, d, want)
				}
			}
			if !near(b.Total.Seconds(), tt.total) {
				t.Errorf("Total = %v, want %vs", b.Total, tt.total)
			}
			if got := b.Line(); got != tt.line {
				t.Errorf("Line()\n got %q\nwant %q", got, tt.line)
			}
			if b.Has() != (len(tt.want) > 0) {
				t.Errorf("Has() = %v with %d known phases", b.Has(), len(tt.want))
			}
		})
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                        "0 s",
		400 * time.Millisecond:   "0.4 s",
		7 * time.Second:          "7 s",
		9949 * time.Millisecond:  "9.9 s",
		9960 * time.Millisecond:  "10 s",
		58 * time.Second:         "58 s",
		74600 * time.Millisecond: "75 s",
	} {
		if got := Seconds(d); got != want {
			t.Errorf("Seconds(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestPhaseNames(t *testing.T) {
	want := map[Phase][2]string{
		Queueing:       {"queueing", "ecsworker.start.queueing-s"},
		Provisioning:   {"provisioning", "ecsworker.start.provisioning-s"},
		ImagePull:      {"image_pull", "ecsworker.start.image-pull-s"},
		ContainerStart: {"container_start", "ecsworker.start.container-start-s"},
		FlowStart:      {"flow_start", "ecsworker.start.flow-start-s"},
	}
	if len(want) != len(Phases) {
		t.Fatalf("%d phases, %d named here", len(Phases), len(want))
	}
	for p, w := range want {
		if p.String() != w[0] || p.Label() != w[1] {
			t.Errorf("phase %d: %q %q, want %q %q", p, p.String(), p.Label(), w[0], w[1])
		}
	}
	if got := Phase(9).String(); got != "phase(9)" {
		t.Errorf("Phase(9) = %q", got)
	}
}

func TestCapacity(t *testing.T) {
	for _, tt := range []struct{ lt, cp, want string }{
		{"FARGATE", "FARGATE_SPOT", "FARGATE_SPOT"},
		{"FARGATE", "", "FARGATE"},
		{"EC2", "warm-pool-cp", "warm-pool-cp"},
		{"", "", "unknown"},
	} {
		if got := Capacity(tt.lt, tt.cp); got != tt.want {
			t.Errorf("Capacity(%q, %q) = %q, want %q", tt.lt, tt.cp, got, tt.want)
		}
	}
}

// TestLabelsRoundTrip goes through JSON as the labels do through Prefect.
func TestLabelsRoundTrip(t *testing.T) {
	r := Record{Breakdown: Compute(Times{Scheduled: at(0), RunTask: at(2.5), Created: at(3), PullStarted: at(12.0004), PullStopped: at(70), Started: at(77)}),
		Capacity: "FARGATE_SPOT", TaskStartedAt: at(77)}
	raw, err := json.Marshal(r.Labels())
	if err != nil {
		t.Fatal(err)
	}
	var labels map[string]any
	if err := json.Unmarshal(raw, &labels); err != nil {
		t.Fatal(err)
	}
	if labels["ecsworker.start.provisioning-s"] != 9.0 {
		t.Errorf("provisioning label = %v, want 9 (millisecond precision)", labels["ecsworker.start.provisioning-s"])
	}
	if _, ok := labels[FlowStart.Label()]; ok {
		t.Errorf("an unknown phase got a label: %s", raw)
	}
	back, err := FromLabels(labels)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range Phases {
		d1, ok1 := r.Get(p)
		d2, ok2 := back.Get(p)
		if ok1 != ok2 || (d2-d1).Abs() > time.Millisecond {
			t.Errorf("%s: wrote %v %v, read %v %v", p, d1, ok1, d2, ok2)
		}
	}
	if back.Capacity != "FARGATE_SPOT" || !back.TaskStartedAt.Equal(at(77)) {
		t.Errorf("read capacity %q, started %v", back.Capacity, back.TaskStartedAt)
	}
}

func TestFromLabels(t *testing.T) {
	tests := []struct {
		name    string
		labels  map[string]any
		phase   Phase
		want    time.Duration
		wantErr string
	}{
		{name: "a numeric string another client wrote", labels: map[string]any{"ecsworker.start.image-pull-s": "58.5"}, phase: ImagePull, want: 58500 * time.Millisecond},
		{name: "other labels are ignored", labels: map[string]any{"prefect.worker.name": "w", "ecsworker.start.queueing-s": 1.0}, phase: Queueing, want: time.Second},
		{name: "not a number", labels: map[string]any{"ecsworker.start.image-pull-s": "slow"}, wantErr: "ecsworker.start.image-pull-s is slow, not a number of seconds"},
		{name: "negative", labels: map[string]any{"ecsworker.start.provisioning-s": -1.0}, wantErr: "ecsworker.start.provisioning-s is -1"},
		{name: "a bool", labels: map[string]any{"ecsworker.start.flow-start-s": true}, wantErr: "flow-start-s is true"},
		{name: "a bad time", labels: map[string]any{TaskStartedAtLabel: "yesterday"}, wantErr: "task-started-at is yesterday, not an RFC 3339 time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := FromLabels(tt.labels)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d, ok := r.Get(tt.phase); !ok || d != tt.want {
				t.Errorf("%s = %v %v, want %v", tt.phase, d, ok, tt.want)
			}
		})
	}
}

func TestNotStartedLine(t *testing.T) {
	tests := []struct {
		times Times
		want  string
	}{
		{Times{Scheduled: at(0), RunTask: at(1), Created: at(1)}, "ECS task stopped before starting; it never pulled its image; queued 1 s in the worker before RunTask"},
		{Times{Created: at(0), PullStarted: at(9)}, "ECS task stopped before starting, after 9 s provisioning"},
		{Times{Created: at(0), PullStarted: at(9), PullStopped: at(12)}, "ECS task stopped before starting, after 9 s provisioning and 3 s pulling the image"},
		{Times{}, "ECS task stopped before starting; it never pulled its image"},
	}
	for _, tt := range tests {
		if got := Compute(tt.times).NotStartedLine(); got != tt.want {
			t.Errorf("NotStartedLine()\n got %q\nwant %q", got, tt.want)
		}
	}
}
