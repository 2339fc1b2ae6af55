package cfnstack_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/cfnstack"
)

func TestProgress(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	events := []cfnstack.StackEvent{
		{LogicalID: "s", Type: "AWS::CloudFormation::Stack", Status: "CREATE_IN_PROGRESS", Reason: "User Initiated", Time: at},
		{LogicalID: "Queue", Type: "AWS::SQS::Queue", Status: "CREATE_IN_PROGRESS", Time: at},
		{LogicalID: "Queue", Type: "AWS::SQS::Queue", Status: "CREATE_FAILED", Reason: "no", Time: at},
		{LogicalID: "s", Type: "AWS::CloudFormation::Stack", Status: "ROLLBACK_COMPLETE", Time: at},
	}
	var plain bytes.Buffer
	p := cfnstack.NewPlainProgress(&plain)
	p.Step("Creating")
	for _, e := range events {
		p.Event(e)
	}
	if want := "  03:04:05  CREATE_FAILED                Queue (AWS::SQS::Queue): no\n"; !strings.Contains(plain.String(), want) {
		t.Errorf("plain progress:\n%s", plain.String())
	}
	var live bytes.Buffer
	l := cfnstack.NewLiveProgress(&live, fixedClock{at})
	for _, e := range events {
		l.Event(e)
	}
	out := live.String()
	// The last drawing: the stack line and one line for the queue, in
	// place of the previous drawing (cursor up two lines, clear).
	if !strings.Contains(out, "\x1b[2F\x1b[JStack s: ROLLBACK_COMPLETE  [0s]\n  ✗ Queue") || !strings.HasSuffix(out, "CREATE_FAILED: no\n") {
		t.Errorf("live progress: %q", out)
	}
	if strings.Count(out, "  ✗ Queue") != 2 || strings.Count(out, "  … Queue") != 1 {
		t.Errorf("the queue should be redrawn on each event, not appended: %q", out)
	}
}

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time                             { return c.t }
func (c fixedClock) Sleep(context.Context, time.Duration) error { return nil }

// failingWriter takes n writes, then fails every one.
type failingWriter struct {
	n      int
	writes []string
}

var errGone = errors.New("terminal gone")

func (w *failingWriter) Write(b []byte) (int, error) {
	if len(w.writes) >= w.n {
		return 0, errGone
	}
	w.writes = append(w.writes, string(b))
	return len(b), nil
}

func TestProgressWriteError(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := cfnstack.StackEvent{LogicalID: "Queue", Type: "AWS::SQS::Queue", Status: "CREATE_IN_PROGRESS", Time: at}
	for name, newProgress := range map[string]func(io.Writer) cfnstack.Progress{
		"plain": cfnstack.NewPlainProgress,
		"live":  func(w io.Writer) cfnstack.Progress { return cfnstack.NewLiveProgress(w, fixedClock{at}) },
	} {
		w := &failingWriter{n: 1}
		p := newProgress(w)
		p.Step("Creating")
		p.Event(ev)
		p.Step("Executing")
		p.Event(ev)
		if err := p.(interface{ Err() error }).Err(); !errors.Is(err, errGone) {
			t.Errorf("%s: Err() = %v, want the first failed write", name, err)
		}
		if len(w.writes) != 1 || w.writes[0] != "Creating\n" {
			t.Errorf("%s: wrote %q; nothing should be written after a failed write", name, w.writes)
		}
	}
}
