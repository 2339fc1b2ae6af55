package runreport_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ecsworker/ecsworker/internal/logtest"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefect/prefecttest"
	"github.com/ecsworker/ecsworker/internal/prefectevents"
	"github.com/ecsworker/ecsworker/internal/runreport"
)

const runID = "0b9e5a0c-3c1f-4d2e-9a57-1d2f3e4a5b6c"

// cancelled is a context its caller has given up on: reports outlive it.
func cancelled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

func TestCrash(t *testing.T) {
	t.Parallel()
	const msg = "Essential container in task exited: exit code 1. Resolution: read the flow's logs."
	tests := []struct {
		name    string
		res     *prefect.OrchestrationResult
		err     error
		wantErr error
		// wantLog is the worker's own log line about the report ("": none).
		wantLog   string
		wantLevel slog.Level
	}{
		{name: "accepted", res: &prefect.OrchestrationResult{Status: prefect.StatusAccept},
			wantLog: "reported flow run as crashed", wantLevel: slog.LevelInfo},
		{name: "refused: the run already ended, not an error",
			res:     &prefect.OrchestrationResult{Status: prefect.StatusReject, Details: prefect.OrchestrationDetails{Reason: "This run is already in a terminal state."}},
			wantLog: "crash report not accepted (the run already ended)", wantLevel: slog.LevelDebug},
		{name: "aborted", res: &prefect.OrchestrationResult{Status: prefect.StatusAbort},
			wantLog: "crash report not accepted (the run already ended)", wantLevel: slog.LevelDebug},
		{name: "run not found", err: fmt.Errorf("set state: %w", prefect.ErrNotFound)},
		{name: "Prefect unreachable", err: errOutage, wantErr: errOutage,
			wantLog: "could not report the flow run as crashed", wantLevel: slog.LevelError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				api := &fakePrefect{res: tt.res, err: tt.err}
				log, rec := logtest.New()
				rep := runreport.New(api, runreport.Options{Log: log})

				err := rep.Crash(cancelled(t), runID, msg)
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Fatalf("Crash() = %v, want %v", err, tt.wantErr)
				}
				got := api.gotProposals()
				want := proposal{runID: runID, state: prefect.StateCreate{Type: prefect.StateCrashed, Name: "Crashed", Message: msg}, timeout: time.Minute}
				if len(got) != 1 || got[0] != want {
					t.Fatalf("proposals = %+v, want [%+v] (proposed, not forced, within a minute, despite the caller's cancelled context)", got, want)
				}
				entries := rec.All()
				if tt.wantLog == "" {
					if len(entries) != 0 {
						t.Fatalf("worker log = %+v, want nothing", entries)
					}
					return
				}
				if len(entries) != 1 || entries[0].Msg != tt.wantLog || entries[0].Level != tt.wantLevel || entries[0].Attrs["flow_run"] != runID {
					t.Fatalf("worker log = %+v, want one %v line %q about the run", entries, tt.wantLevel, tt.wantLog)
				}
			})
		})
	}
}

func TestForceStateAndCancel(t *testing.T) {
	t.Parallel()
	const msg = "Flow run cancelled: its ECS task stopped."
	tests := []struct {
		name    string
		err     error
		cancel  bool // Cancel instead of ForceState
		wantErr error
		// wantRunLog is whether the message lands in the run's logs.
		wantRunLog bool
		wantErrLog bool
	}{
		{name: "set", wantRunLog: true},
		{name: "run gone: still said in its logs", err: fmt.Errorf("set state: %w", prefect.ErrNotFound), wantRunLog: true},
		{name: "Prefect unreachable", err: errOutage, wantErr: errOutage, wantErrLog: true},
		{name: "Cancel", cancel: true, wantRunLog: true},
		{name: "Cancel while Prefect is unreachable: logged, not returned", cancel: true, err: errOutage, wantErrLog: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				api := &fakePrefect{err: tt.err}
				log, rec := logtest.New()
				at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
				rep := runreport.New(api, runreport.Options{Log: log, Now: func() time.Time { return at }})

				var err error
				if tt.cancel {
					rep.Cancel(cancelled(t), runID, msg)
				} else {
					err = rep.ForceState(cancelled(t), runID, prefect.StateCancelled, "Cancelled", msg)
				}
				if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
					t.Fatalf("ForceState() = %v, want %v", err, tt.wantErr)
				}
				want := proposal{runID: runID, state: prefect.StateCreate{Type: prefect.StateCancelled, Name: "Cancelled", Message: msg}, force: true, timeout: time.Minute}
				if got := api.gotProposals(); len(got) != 1 || got[0] != want {
					t.Fatalf("proposals = %+v, want [%+v]", got, want)
				}

				rep.FlushLogs(t.Context())
				var wantSent []prefect.LogCreate
				if tt.wantRunLog {
					wantSent = []prefect.LogCreate{{Name: "prefect.flow_runs.worker", Level: prefect.LevelInfo, Message: msg, Timestamp: at, FlowRunID: runID}}
				}
				if got := api.gotSent(); !slices.Equal(got, wantSent) {
					t.Errorf("run logs = %+v, want %+v", got, wantSent)
				}
				e, found := rec.Find("could not set the flow run's state")
				if found != tt.wantErrLog {
					t.Fatalf("worker log = %+v, want the error line: %v", rec.All(), tt.wantErrLog)
				}
				if found && (e.Level != slog.LevelError || e.Attrs["state"] != "Cancelled" || e.Attrs["flow_run"] != runID) {
					t.Errorf("error line = %+v", e)
				}
			})
		})
	}
}

func TestDetachOption(t *testing.T) {
	t.Parallel()
	api := &fakePrefect{}
	detached := 0
	rep := runreport.New(api, runreport.Options{Detach: func(ctx context.Context) (context.Context, context.CancelFunc) {
		detached++
		// A hard stop that has come already: the report is not made.
		ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cancel()
		return ctx, cancel
	}})
	if err := rep.Crash(t.Context(), runID, "m"); err != nil {
		t.Fatal(err)
	}
	if err := rep.ForceState(t.Context(), runID, prefect.StateCancelled, "Cancelled", "m"); err != nil {
		t.Fatal(err)
	}
	got := api.gotProposals()
	if detached != 2 || len(got) != 2 || !errors.Is(got[0].ctxErr, context.Canceled) || !errors.Is(got[1].ctxErr, context.Canceled) {
		t.Fatalf("Detach called %d times, proposals %+v: want both reports made under Options.Detach's context", detached, got)
	}
}

func TestNotify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		notify bool
	}{
		{name: "with Options.Notify", notify: true},
		{name: "without"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var heard []string
			opts := runreport.Options{}
			if tt.notify {
				opts.Notify = func(event, id string) { heard = append(heard, event+" "+id) }
			}
			rep := runreport.New(&fakePrefect{}, opts)
			rep.Notify("task-stopped", runID)
			rep.Notify("cancelled", "other")
			var want []string
			if tt.notify {
				want = []string{"task-stopped " + runID, "cancelled other"}
			}
			if fmt.Sprint(heard) != fmt.Sprint(want) {
				t.Fatalf("heard %q, want %q", heard, want)
			}
		})
	}
}

func TestSource(t *testing.T) {
	t.Parallel()
	src := prefect.WorkerEventSource{Name: "ecs-worker-1", Type: "ecs", Version: "3.4.0"}
	tests := []struct {
		name   string
		source func() prefect.WorkerEventSource
		want   prefect.WorkerEventSource
	}{
		{name: "set", source: func() prefect.WorkerEventSource { return src }, want: src},
		{name: "unset", want: prefect.WorkerEventSource{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rep := runreport.New(&fakePrefect{}, runreport.Options{Source: tt.source})
			if got := rep.Source(); got != tt.want {
				t.Fatalf("Source() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEmit(t *testing.T) {
	t.Parallel()
	ev := prefectevents.Event{Event: "prefect.worker.executed-flow-run", Resource: map[string]string{"prefect.resource.id": "prefect.worker.ecs.ecs-worker-1"}, Follows: "5b0d3c8e-6f2a-4c1e-9d7b-0a1b2c3d4e5f"}
	tests := []struct {
		name string
		// emitter: "none" (never set), "unset" (set, then nil), "open",
		// "closed" (Emit fails).
		emitter   string
		wantSent  bool
		wantDebug bool
	}{
		{name: "without an emitter", emitter: "none"},
		{name: "emitter removed", emitter: "unset"},
		{name: "sent", emitter: "open", wantSent: true},
		{name: "emitter closed: logged, not fatal", emitter: "closed", wantDebug: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, rec := logtest.New()
			rep := runreport.New(&fakePrefect{}, runreport.Options{Log: log})
			em, events := newEmitter(t)
			switch tt.emitter {
			case "unset":
				rep.SetEmitter(em)
				rep.SetEmitter(nil)
			case "open":
				rep.SetEmitter(em)
			case "closed":
				rep.SetEmitter(em)
				if err := em.Close(); err != nil {
					t.Fatal(err)
				}
			}
			rep.Emit(ev)
			if err := em.Close(); err != nil {
				t.Fatal(err)
			}
			got := prefecttest.Events(t, events)
			if !tt.wantSent {
				if len(got) != 0 {
					t.Fatalf("events sent: %+v, want none", got)
				}
			} else if len(got) != 1 || got[0].Event != ev.Event || got[0].Resource["prefect.resource.id"] != "prefect.worker.ecs.ecs-worker-1" || got[0].Follows != "5b0d3c8e-6f2a-4c1e-9d7b-0a1b2c3d4e5f" || got[0].ID == "" {
				t.Fatalf("events sent: %+v, want the one emitted, with an id", got)
			}
			e, found := rec.Find("could not emit a worker event")
			if found != tt.wantDebug {
				t.Fatalf("worker log = %+v, want the debug line: %v", rec.All(), tt.wantDebug)
			}
			if found && (e.Level != slog.LevelDebug || e.Attrs["event"] != ev.Event) {
				t.Errorf("debug line = %+v", e)
			}
		})
	}
}
