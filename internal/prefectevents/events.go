// Package prefectevents holds Prefect's events: sending them (the
// /events/in WebSocket with POST /events as the fallback, through an
// EventEmitter that never blocks the worker) and following them (the
// /events/out WebSocket, with the filter, backfill and reconnection of
// Prefect's own subscribers).
package prefectevents

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
)

// Events are the calls on Prefect's events; prefect.Client embeds them.
type Events struct{ t *prefectapi.Transport }

// New returns the calls on events made through t.
func New(t *prefectapi.Transport) Events { return Events{t: t} }

// Names of the events a worker sends, and of the flow-run events it
// watches (Prefect emits prefect.flow-run.<state name> on every state
// change).
const (
	EventWorkerStarted          = "prefect.worker.started"
	EventWorkerStopped          = "prefect.worker.stopped"
	EventWorkerSubmittedFlowRun = "prefect.worker.submitted-flow-run"
	EventWorkerExecutedFlowRun  = "prefect.worker.executed-flow-run"
	EventFlowRunScheduled       = "prefect.flow-run.Scheduled"
	EventFlowRunCancelling      = "prefect.flow-run.Cancelling"
)

// Resource labels Prefect gives meaning to.
const (
	LabelResourceID   = "prefect.resource.id"
	LabelResourceName = "prefect.resource.name"
	LabelResourceRole = "prefect.resource.role"
)

// WorkPoolResourceID is the event resource id of a work pool, e.g. for
// EventFilter.AnyResourceIDs.
func WorkPoolResourceID(poolID string) string { return "prefect.work-pool." + poolID }

// FlowRunResourceID is the event resource id of a flow run.
func FlowRunResourceID(flowRunID string) string { return "prefect.flow-run." + flowRunID }

// Event is a Prefect event, e.g. prefect.worker.submitted-flow-run.
type Event struct {
	// ID identifies the event; empty means a fresh one.
	ID string
	// Occurred defaults to now.
	Occurred time.Time
	Event    string
	// Resource must hold "prefect.resource.id".
	Resource map[string]string
	// Related resources each hold "prefect.resource.id" and
	// "prefect.resource.role".
	Related []map[string]string
	Payload *jsonv.Object
	// Follows is the id of an event this one comes after, if any.
	Follows string
}

type eventBody struct {
	ID       string              `json:"id"`
	Occurred string              `json:"occurred"`
	Event    string              `json:"event"`
	Resource map[string]string   `json:"resource"`
	Related  []map[string]string `json:"related,omitempty"`
	Payload  *jsonv.Object       `json:"payload,omitempty"`
	Follows  string              `json:"follows,omitempty"`
}

// EmitEvents sends events over HTTP (POST /events). Python workers use the
// events WebSocket; the REST route takes the same events.
func (c Events) EmitEvents(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	body := make([]eventBody, len(events))
	for i, e := range events {
		id := e.ID
		if id == "" {
			id = prefectapi.NewUUID()
		}
		occurred := e.Occurred
		if occurred.IsZero() {
			occurred = c.t.Now()
		}
		resource := e.Resource
		if resource == nil {
			resource = map[string]string{}
		}
		body[i] = eventBody{ID: id, Occurred: prefectapi.FormatTime(occurred), Event: e.Event, Resource: resource,
			Related: e.Related, Payload: e.Payload, Follows: e.Follows}
	}
	_, err := c.t.Do(ctx, prefectapi.Call{Op: fmt.Sprintf("send %d events", len(events)), Method: http.MethodPost, Path: "/events", Body: body})
	return err
}
