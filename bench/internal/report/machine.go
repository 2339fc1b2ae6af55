package report

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine is what the figures were measured on.
type Machine struct {
	CPUs      int     `json:"cpus"`
	CPUModel  string  `json:"cpu_model"`
	MemoryGiB float64 `json:"memory_gib"`
	Go        string  `json:"go"`
	OS        string  `json:"os"`
	Date      string  `json:"date"`
	Commit    string  `json:"commit"`
	// LoadAverage at the end of the run: other work on the machine slows
	// the wall-clock figures (never the fake-time ones).
	LoadAverage string `json:"load_average"`
	// EventStream says whether the worker's event stream was implemented
	// when the bench ran (it is simulated either way: see the report).
	EventStream string `json:"event_stream"`
	// BinaryMB is the size of the worker binary the wall-clock
	// measurements ran, built as releases are.
	BinaryMB float64 `json:"binary_mb,omitempty"`
}

// DescribeMachine reads the machine the bench runs on, and the commit of
// the module at root.
func DescribeMachine(root string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Date: time.Now().UTC().Format("2006-01-02 15:04 UTC")}
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out))
	}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseFloat(strings.Fields(procField("/proc/meminfo", "MemTotal") + " 0")[0], 64); err == nil {
		m.MemoryGiB = kb / (1 << 20)
	}
	m.LoadAverage = LoadAverage()
	cmd := exec.Command("git", "describe", "--always", "--dirty")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	m.EventStream = "unknown"
	if b, err := os.ReadFile(filepath.Join(root, "internal/worker/events.go")); err == nil {
		if strings.Contains(string(b), "func (w *Worker) eventStreamLoop(ctx context.Context) {}") {
			m.EventStream = "not implemented (eventStreamLoop is a stub)"
		} else {
			m.EventStream = "implemented"
		}
	}
	return m
}

// LoadAverage is the first three fields of /proc/loadavg, "" where there
// is none.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	if f := strings.Fields(string(b)); len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
}

func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }() // read-only: Close cannot lose data
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
