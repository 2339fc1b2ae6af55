// Package logtest records what code logs through log/slog, for tests that
// check the lines a person would read. Only tests import it.
package logtest

import (
	"context"
	"log/slog"
	"sync"
)

// Entry is one logged line.
type Entry struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string // values as slog prints them
}

// Recorder is a slog.Handler that keeps every line, at every level.
type Recorder struct {
	mu      sync.Mutex
	entries []Entry
}

// New returns a logger writing to a new Recorder.
func New() (*slog.Logger, *Recorder) {
	r := &Recorder{}
	return slog.New(r), r
}

// Enabled is true at every level.
func (r *Recorder) Enabled(context.Context, slog.Level) bool { return true }

// Handle keeps the line.
func (r *Recorder) Handle(_ context.Context, rec slog.Record) error {
	e := Entry{Level: rec.Level, Msg: rec.Message, Attrs: map[string]string{}}
	rec.Attrs(func(a slog.Attr) bool {
		e.Attrs[a.Key] = a.Value.String()
		return true
	})
	r.mu.Lock()
	r.entries = append(r.entries, e)
	r.mu.Unlock()
	return nil
}

// WithAttrs keeps no attributes: tests look at a line's own.
func (r *Recorder) WithAttrs([]slog.Attr) slog.Handler { return r }

// WithGroup ignores the group.
func (r *Recorder) WithGroup(string) slog.Handler { return r }

// All returns the lines so far.
func (r *Recorder) All() []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Entry(nil), r.entries...)
}

// Find returns the first line with message msg.
func (r *Recorder) Find(msg string) (Entry, bool) {
	for _, e := range r.All() {
		if e.Msg == msg {
			return e, true
		}
	}
	return Entry{}, false
}
