package prefect

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// fuzzLimits are small enough for the fuzzer's inputs to reach each
// limit: the per-run size, the skip limit and the budget.
var fuzzLimits = runLimits{budget: 400, perRun: 150, skip: 600}

func TestReadRunsGrabsFieldsOfLargeRuns(t *testing.T) {
	t.Parallel()
	// The id comes after the large parameters here, and strings hold
	// brackets, quotes and escapes that must not confuse the scan.
	big := `{"work_queue_id":"q1","flow_run":{"parameters":{"x":"` + strings.Repeat(`[{\"`, 100) + `","n":[[1],{"a":"}"}]},` +
		`"name":"brave-otter","id":"r\u0031","state_type":"SCHEDULED","state_name":"Late","nested":{"id":"not this"}},"work_pool_id":"p1"}`
	small := `{"work_pool_id":"p1","work_queue_id":"q1","flow_run":{"id":"r2","state_type":"SCHEDULED","parameters":{}}}`
	lim := runLimits{budget: 4000, perRun: 150, skip: 2000}
	a, err := readRuns(iotest.OneByteReader(strings.NewReader(" [ "+big+" ,\n"+small+" ] ")), lim)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.runs) != 1 || a.runs[0].FlowRun.ID != "r2" || a.runs[0].FlowRun.Raw.GetString("id") != "r2" {
		t.Errorf("runs %+v", a.runs)
	}
	if len(a.unreadable) != 1 {
		t.Fatalf("unreadable %+v", a.unreadable)
	}
	u := a.unreadable[0]
	want := UnreadableRun{WorkPoolID: "p1", WorkQueueID: "q1", ID: "r1", Name: "brave-otter", StateType: StateScheduled,
		StateName: "Late", Bytes: int64(len(big)), Err: u.Err}
	if u != want {
		t.Errorf("unreadable\n got %+v\nwant %+v", u, want)
	}
	var ue *UnreadableRunError
	if !errors.As(u.Err, &ue) || ue.ID != "r1" || ue.AtLeast || !errors.Is(u.Err, ErrRunTooLarge) {
		t.Errorf("error %#v", u.Err)
	}
	if a.count != 2 || a.cut || a.bytes != int64(len(big)+len(small)) {
		t.Errorf("count %d, cut %v, bytes %d", a.count, a.cut, a.bytes)
	}

	// A run whose end is further than the skip limit stops the poll there.
	endless := `[{"flow_run":{"id":"r3","parameters":"` + strings.Repeat("x", 5000) + `"}},` + small + `]`
	a, err = readRuns(iotest.OneByteReader(strings.NewReader(endless)), lim)
	if err != nil || len(a.unreadable) != 1 || a.unreadable[0].ID != "r3" || !a.cut || len(a.runs) != 0 {
		t.Fatalf("answer %+v, err %v", a, err)
	}
	if !errors.As(a.unreadable[0].Err, &ue) || !ue.AtLeast || !strings.Contains(ue.Error(), "flow run r3 is at least 2.0 KiB of JSON, over the 150 bytes") {
		t.Errorf("error %v", a.unreadable[0].Err)
	}
}

func FuzzReadRuns(f *testing.F) {
	run := func(id, params string) string {
		return `{"work_pool_id":"p","work_queue_id":"q","flow_run":{"id":"` + id + `","name":"n","state_type":"SCHEDULED",` +
			`"state_name":"Scheduled","parameters":` + params + `}}`
	}
	f.Add(`[]`)
	f.Add(`[` + run("a", `{}`) + `]`)
	f.Add(`[` + run("a", `{"x":"`+strings.Repeat("y", 200)+`"}`) + `,` + run("b", `{}`) + `]`)               // over perRun
	f.Add(`[` + run("a", `{"x":"`+strings.Repeat("y", 700)+`"}`) + `,` + run("b", `{}`) + `]`)               // over skip
	f.Add(`[` + strings.Repeat(run("a", `{"k":"v"}`)+`,`, 6) + run("z", `{}`) + `]`)                         // over the budget
	f.Add(`[` + run("d", strings.Repeat(`[`, jsonv.MaxDepth+1)+strings.Repeat(`]`, jsonv.MaxDepth+1)) + `]`) // too deep
	f.Add(`[{"flow_run":{"id":"\"}]","name":"\\"}},{"flow_run":5}]`)
	f.Add(`[{`)
	f.Fuzz(func(t *testing.T, s string) {
		a, err := readRuns(strings.NewReader(s), fuzzLimits)
		if err != nil {
			if strings.Contains(err.Error(), "goroutine ") {
				t.Fatalf("error carries a stack trace: %v", err)
			}
			return
		}
		if a.count != len(a.runs)+len(a.unreadable) {
			t.Fatalf("%d runs seen, %d read, %d unreadable", a.count, len(a.runs), len(a.unreadable))
		}
		if a.bytes > int64(len(s)) {
			t.Fatalf("%d bytes of runs in %d of input", a.bytes, len(s))
		}
		for _, r := range a.runs {
			raw, err := jsonv.Marshal(r.FlowRun.Raw)
			if err != nil {
				t.Fatal(err)
			}
			// Compact output is never longer than the input it came from,
			// except that each byte of invalid UTF-8 comes out as U+FFFD
			// (three bytes): the limit is on what was read.
			if int64(len(raw)) > fuzzLimits.perRun && utf8.ValidString(s) {
				t.Fatalf("a run of %d bytes was decoded, over the limit of %d", len(raw), fuzzLimits.perRun)
			}
		}
		for _, u := range a.unreadable {
			var ue *UnreadableRunError
			if !errors.As(u.Err, &ue) {
				t.Fatalf("error %T", u.Err)
			}
			if !errors.Is(u.Err, ErrRunTooLarge) && !errors.Is(u.Err, jsonv.ErrTooDeep) {
				t.Fatalf("unreadable for another reason: %v", u.Err)
			}
			if errors.Is(u.Err, ErrRunTooLarge) && u.Bytes <= fuzzLimits.perRun {
				t.Fatalf("a run of %d bytes called too large", u.Bytes)
			}
		}
		if !a.cut && bytes.Count([]byte(s), []byte("{")) == 0 && a.count > 0 {
			t.Fatalf("runs found without an object")
		}
	})
}

// FuzzFieldGrabber: on any object, the grabber used for runs too large to
// decode reads the same short fields as the decoder (the last string
// value of each key, as in Python and jsonv).
func FuzzFieldGrabber(f *testing.F) {
	f.Add(`{"work_pool_id":"p","flow_run":{"id":"a","name":"n\"}","state_type":"SCHEDULED"}}`)
	f.Add(`{"flow_run":{"id":"a"},"flow_run":{"id":"b","x":[{"id":"c"}]}}`)
	f.Add(`{"flow_run":{"parameters":{"id":"no"},"id":"y\u00e9"},"work_pool_id":null}`)
	f.Add(`{"x":["flow_run",{"flow_run":{"id":"no"}}],"flow_run":{"id":"yes"}}`)
	f.Fuzz(func(t *testing.T, s string) {
		obj, err := jsonv.DecodeObject([]byte(s))
		g := newFieldGrabber()
		g.feed([]byte(s)) // must not panic, whatever s is
		if err != nil {
			return
		}
		check := func(key string, parent *jsonv.Object, field string) {
			v, ok := parent.Get(field)
			str, isStr := v.(string)
			if !ok || !isStr || len(str)*6 >= maxGrabbed {
				return
			}
			if g.fields[key] != str {
				t.Fatalf("%s: grabbed %q, decoded %q", key, g.fields[key], str)
			}
		}
		check("work_pool_id", obj, "work_pool_id")
		if fr := obj.GetObject("flow_run"); fr != nil {
			for _, k := range []string{"id", "name", "state_type", "state_name", "deployment_id"} {
				check("flow_run."+k, fr, k)
			}
		}
	})
}
