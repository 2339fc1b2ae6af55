package cfnstack

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressWriter is where a progress display writes. Progress has no
// error to return (the deploy it shows goes on regardless), so the first
// failed write is kept for Err, and nothing more is written after it: the
// stream is gone (a closed terminal, a broken pipe), and a live display
// could no longer tell how many lines to move back over.
type progressWriter struct {
	w   io.Writer
	err error
}

func (w *progressWriter) write(s string) {
	if w.err == nil {
		_, w.err = io.WriteString(w.w, s)
	}
}

// NewPlainProgress writes one line per step and event: for logs, CI and
// anything that is not a terminal.
func NewPlainProgress(w io.Writer) Progress { return &plainProgress{out: progressWriter{w: w}} }

type plainProgress struct {
	mu  sync.Mutex
	out progressWriter
}

func (p *plainProgress) Step(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out.write(msg + "\n")
}

func (p *plainProgress) Event(e StackEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("  %s  %-28s %s (%s)", e.Time.UTC().Format("15:04:05"), e.Status, e.LogicalID, e.Type)
	if e.Reason != "" {
		line += ": " + e.Reason
	}
	p.out.write(line + "\n")
}

// Err is the first write that failed; nothing was written after it.
func (p *plainProgress) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.err
}

// NewLiveProgress keeps one line per resource on a terminal and rewrites
// them in place as their status changes, under the stack's own status.
func NewLiveProgress(w io.Writer, clock Clock) Progress {
	if clock == nil {
		clock = RealClock()
	}
	return &liveProgress{out: progressWriter{w: w}, clock: clock, index: map[string]int{}}
}

type liveProgress struct {
	mu    sync.Mutex
	out   progressWriter
	clock Clock
	stack *StackEvent
	rows  []StackEvent
	index map[string]int
	drawn int // lines of the last drawing, to move back over
	start time.Time
}

func (p *liveProgress) Step(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.erase()
	p.out.write(msg + "\n")
	p.draw()
}

// Err is the first write that failed; nothing was written after it.
func (p *liveProgress) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.err
}

func (p *liveProgress) Event(e StackEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.start.IsZero() {
		p.start = p.clock.Now()
	}
	if e.IsStack() {
		ev := e
		p.stack = &ev
	} else if i, ok := p.index[e.LogicalID]; ok {
		p.rows[i] = e
	} else {
		p.index[e.LogicalID] = len(p.rows)
		p.rows = append(p.rows, e)
	}
	p.erase()
	p.draw()
	if p.stack != nil && !InProgress(p.stack.Status) {
		// Done: leave the final picture in place, no more rewriting.
		p.drawn = 0
	}
}

func (p *liveProgress) erase() {
	if p.drawn > 0 {
		// Up to the first line drawn, then clear everything below it.
		p.out.write(fmt.Sprintf("\x1b[%dF\x1b[J", p.drawn))
		p.drawn = 0
	}
}

func (p *liveProgress) draw() {
	if p.stack == nil && len(p.rows) == 0 {
		return
	}
	var b strings.Builder
	lines := 0
	if p.stack != nil {
		elapsed := p.clock.Now().Sub(p.start).Round(time.Second)
		fmt.Fprintf(&b, "Stack %s: %s  [%s]\n", p.stack.LogicalID, p.stack.Status, elapsed)
		lines++
	}
	for _, r := range p.rows {
		fmt.Fprintf(&b, "  %s %-34s %-40s %s", mark(r.Status), r.LogicalID, r.Type, r.Status)
		if strings.HasSuffix(r.Status, "_FAILED") && r.Reason != "" {
			fmt.Fprintf(&b, ": %s", r.Reason)
		}
		b.WriteByte('\n')
		lines++
	}
	p.out.write(b.String())
	p.drawn = lines
}

func mark(status string) string {
	switch {
	case strings.HasSuffix(status, "_FAILED"):
		return "✗"
	case InProgress(status):
		return "…"
	case strings.HasPrefix(status, "DELETE_SKIPPED"):
		return "-"
	}
	return "✓"
}
