package memlimit_test

import (
	"math"
	"runtime/debug"
	"testing"
	"testing/fstest"

	"github.com/ecsworker/ecsworker/internal/memlimit"
)

func TestLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   fstest.MapFS
		want    int64
		wantErr bool
	}{
		{name: "cgroup v2, a 512 MiB task", files: fstest.MapFS{"memory.max": {Data: []byte("536870912\n")}}, want: 512 << 20},
		{name: "cgroup v2, no limit", files: fstest.MapFS{"memory.max": {Data: []byte("max\n")}}},
		{name: "cgroup v1, a 1 GiB task", files: fstest.MapFS{"memory/memory.limit_in_bytes": {Data: []byte("1073741824\n")}}, want: 1 << 30},
		{name: "cgroup v1, no limit", files: fstest.MapFS{"memory/memory.limit_in_bytes": {Data: []byte("9223372036854771712\n")}}},
		{name: "not in a container", files: fstest.MapFS{}},
		{name: "v2 is read before v1", files: fstest.MapFS{"memory.max": {Data: []byte("1048576")}, "memory/memory.limit_in_bytes": {Data: []byte("2097152")}}, want: 1 << 20},
		{name: "garbage", files: fstest.MapFS{"memory.max": {Data: []byte("lots")}}, wantErr: true},
		{name: "zero", files: fstest.MapFS{"memory.max": {Data: []byte("0")}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := memlimit.Limit(tt.files)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("Limit() = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestApply changes the process's memory limit: not parallel, and the
// limit is put back.
func TestApply(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	env := func(kv map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
	}
	task := fstest.MapFS{"memory.max": {Data: []byte("536870912")}}
	tests := []struct {
		name      string
		env       map[string]string
		files     fstest.MapFS
		wantLimit int64
		wantGC    int // GOGC after; 100 when the environment's is kept
		wantSkip  string
		wantErr   bool
	}{
		{name: "a 512 MiB task", files: task, wantLimit: int64(math.Floor(512 << 20 * memlimit.Share)), wantGC: memlimit.GCPercent},
		{name: "GOMEMLIMIT wins", env: map[string]string{"GOMEMLIMIT": "100MiB"}, files: task, wantGC: memlimit.GCPercent, wantSkip: "GOMEMLIMIT is set"},
		{name: "GOGC wins", env: map[string]string{"GOGC": "100"}, files: task, wantLimit: int64(math.Floor(512 << 20 * memlimit.Share)), wantGC: 100},
		{name: "no container limit", files: fstest.MapFS{"memory.max": {Data: []byte("max")}}, wantGC: memlimit.GCPercent, wantSkip: "no container memory limit"},
		{name: "an unreadable limit is said, not guessed", files: fstest.MapFS{"memory.max": {Data: []byte("?")}}, wantGC: memlimit.GCPercent,
			wantSkip: "the container's limit cannot be read", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			debug.SetGCPercent(100)
			got, err := memlimit.Apply(env(tt.env), tt.files)
			if gc := debug.SetGCPercent(100); gc != tt.wantGC {
				t.Errorf("GOGC %d after, want %d", gc, tt.wantGC)
			}
			if (err != nil) != tt.wantErr || got.Limit != tt.wantLimit || got.Skipped != tt.wantSkip {
				t.Fatalf("Apply() = %+v, %v; want limit %d, skipped %q", got, err, tt.wantLimit, tt.wantSkip)
			}
			want := int64(math.MaxInt64)
			if tt.wantLimit > 0 {
				want = tt.wantLimit
			}
			if now := debug.SetMemoryLimit(-1); now != want {
				t.Errorf("runtime limit %d, want %d", now, want)
			}
		})
	}
}
