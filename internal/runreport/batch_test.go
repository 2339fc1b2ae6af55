package runreport_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ecsworker/ecsworker/internal/logtest"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/runreport"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// messages are the messages of records, in order.
func messages(logs []prefect.LogCreate) []string {
	out := make([]string, len(logs))
	for i, l := range logs {
		out[i] = l.Message
	}
	return out
}

// numbered is "<prefix>0" ... "<prefix>n-1".
func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, prefix+strconv.Itoa(i))
	}
	return out
}

func logNumbered(rep *runreport.Reporter, prefix string, n int) {
	for i := range n {
		rep.Log(runID, prefect.LevelInfo, prefix+strconv.Itoa(i))
	}
}

func TestLogRecords(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		level     int
		wantLevel slog.Level
	}{
		{name: "critical", level: 50, wantLevel: slog.LevelError},
		{name: "error", level: prefect.LevelError, wantLevel: slog.LevelError},
		{name: "warning", level: prefect.LevelWarning, wantLevel: slog.LevelWarn},
		{name: "info", level: prefect.LevelInfo, wantLevel: slog.LevelInfo},
		{name: "debug", level: 10, wantLevel: slog.LevelDebug},
		{name: "notset", level: 0, wantLevel: slog.LevelDebug},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := &fakePrefect{}
			log, rec := logtest.New()
			rep := runreport.New(api, runreport.Options{Log: log, Now: func() time.Time { return t0 }})
			line := t0.Add(-time.Minute)

			rep.Log(runID, tt.level, "before the worker had an id")
			rep.SetWorkerID("worker-1")
			rep.LogAt("other-run", tt.level, "a task's log line", line)
			rep.FlushLogs(t.Context())

			want := []prefect.LogCreate{
				{Name: "prefect.flow_runs.worker", Level: tt.level, Message: "before the worker had an id", Timestamp: t0, FlowRunID: runID},
				{Name: "prefect.flow_runs.worker", Level: tt.level, Message: "a task's log line", Timestamp: line, FlowRunID: "other-run", WorkerID: "worker-1"},
			}
			if got := api.gotSent(); !slices.Equal(got, want) {
				t.Fatalf("run logs = %+v\nwant %+v", got, want)
			}
			wantWorker := []logtest.Entry{
				{Level: tt.wantLevel, Msg: "before the worker had an id", Attrs: map[string]string{"flow_run": runID}},
				{Level: tt.wantLevel, Msg: "a task's log line", Attrs: map[string]string{"flow_run": "other-run"}},
			}
			if got := rec.All(); fmt.Sprint(got) != fmt.Sprint(wantWorker) {
				t.Fatalf("worker log = %+v\nwant %+v", got, wantWorker)
			}
		})
	}
}

// TestDefaultClock: without Options.Now, records are stamped with the
// time they are logged at.
func TestDefaultClock(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		api := &fakePrefect{}
		rep := runreport.New(api, runreport.Options{})
		rep.Log(runID, prefect.LevelInfo, "m")
		rep.FlushLogs(t.Context())
		if got := api.gotSent(); len(got) != 1 || !got[0].Timestamp.Equal(time.Now()) {
			t.Fatalf("run logs = %+v, want one record stamped %s", got, time.Now())
		}
	})
}

func TestFlushBatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		records     int
		wantBatches []int
	}{
		{records: 0},
		{records: 1, wantBatches: []int{1}},
		{records: 200, wantBatches: []int{200}},
		{records: 201, wantBatches: []int{200, 1}},
		{records: 450, wantBatches: []int{200, 200, 50}},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.records), func(t *testing.T) {
			t.Parallel()
			api := &fakePrefect{}
			rep := runreport.New(api, runreport.Options{})
			logNumbered(rep, "m", tt.records)
			rep.FlushLogs(t.Context())
			if got := api.batchSizes(); !slices.Equal(got, tt.wantBatches) {
				t.Fatalf("batches = %v, want %v", got, tt.wantBatches)
			}
			if got := messages(api.gotSent()); !slices.Equal(got, numbered("m", 0, tt.records)) {
				t.Fatalf("sent %d records out of order or incomplete", len(got))
			}
			rep.FlushLogs(t.Context())
			if got := len(api.batchSizes()); got != len(tt.wantBatches) {
				t.Fatalf("a second flush sent %d more batches, want none", got-len(tt.wantBatches))
			}
		})
	}
}

// TestFlushFailure: records that could not be sent are put back in front
// and sent, once, by the next flush.
func TestFlushFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		logErrs []error
		// wantFirst and wantSecond are the batches tried by each flush.
		wantFirst, wantSecond []int
		wantAfterFirst        int // records sent by the first flush
	}{
		{name: "first batch fails", logErrs: []error{errOutage},
			wantFirst: []int{200}, wantSecond: []int{200, 200, 200, 51}},
		{name: "second batch fails", logErrs: []error{nil, errOutage},
			wantFirst: []int{200, 200}, wantSecond: []int{200, 200, 200, 51}, wantAfterFirst: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := &fakePrefect{logErrs: tt.logErrs}
			log, rec := logtest.New()
			rep := runreport.New(api, runreport.Options{Log: log})
			logNumbered(rep, "m", 450)

			rep.FlushLogs(t.Context())
			if got := api.batchSizes(); !slices.Equal(got, tt.wantFirst) {
				t.Fatalf("first flush tried %v, want %v", got, tt.wantFirst)
			}
			if got := len(api.gotSent()); got != tt.wantAfterFirst {
				t.Fatalf("first flush sent %d records, want %d", got, tt.wantAfterFirst)
			}
			if _, ok := rec.Find("could not send flow run logs; keeping them for the next try"); !ok {
				t.Errorf("worker log = %+v, want the failure noted", rec.All())
			}
			rep.Log(runID, prefect.LevelInfo, "later")
			rep.FlushLogs(t.Context())
			if got := api.batchSizes(); !slices.Equal(got, tt.wantSecond) {
				t.Fatalf("batches = %v, want %v", got, tt.wantSecond)
			}
			want := append(numbered("m", 0, 450), "later")
			if got := messages(api.gotSent()); !slices.Equal(got, want) {
				t.Fatalf("sent %d records, want the 451 once each, in order", len(got))
			}
		})
	}
}

// TestLogCap: beyond 10,000 records waiting, the oldest are dropped, both
// when records are added and when a failed batch is put back.
func TestLogCap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// logged before the flush; during the (failing) first CreateLogs.
		before, during int
		fail           bool
		want           []string
	}{
		{name: "under the cap", before: 10000, want: numbered("m", 0, 10000)},
		{name: "over the cap", before: 10005, want: numbered("m", 5, 10005)},
		{name: "put back over the cap", before: 10000, during: 150, fail: true,
			want: append(numbered("m", 150, 10000), numbered("n", 0, 150)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := &fakePrefect{}
			rep := runreport.New(api, runreport.Options{})
			logNumbered(rep, "m", tt.before)
			if tt.fail {
				api.logErrs = []error{errOutage}
				var once sync.Once
				api.onLogs = func() { once.Do(func() { logNumbered(rep, "n", tt.during) }) }
				rep.FlushLogs(t.Context())
			}
			rep.FlushLogs(t.Context())
			got := messages(api.gotSent())
			if !slices.Equal(got, tt.want) {
				t.Fatalf("sent %d records (first %q), want %d (first %q)", len(got), got[:1], len(tt.want), tt.want[0])
			}
		})
	}
}

// TestSendLogs: records go every two seconds, until the context ends.
func TestSendLogs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		api := &fakePrefect{}
		rep := runreport.New(api, runreport.Options{})
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		rep.SendLogs(ctx, &wg)

		rep.Log(runID, prefect.LevelInfo, "first")
		time.Sleep(2*time.Second - time.Millisecond)
		synctest.Wait()
		if got := api.gotSent(); len(got) != 0 {
			t.Fatalf("sent %+v before two seconds", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := messages(api.gotSent()); !slices.Equal(got, []string{"first"}) {
			t.Fatalf("sent %q after two seconds, want [first]", got)
		}
		rep.Log(runID, prefect.LevelInfo, "second")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := messages(api.gotSent()); !slices.Equal(got, []string{"first", "second"}) {
			t.Fatalf("sent %q after four seconds", got)
		}

		cancel()
		wg.Wait()
		rep.Log(runID, prefect.LevelInfo, "after the stop")
		time.Sleep(time.Minute)
		if got := len(api.gotSent()); got != 2 {
			t.Fatalf("sent %d records after the context ended, want them kept for FlushLogs", got-2)
		}
	})
}
