package prefect

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

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
func (c *Client) EmitEvents(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	body := make([]eventBody, len(events))
	for i, e := range events {
		id := e.ID
		if id == "" {
			id = NewUUID()
		}
		occurred := e.Occurred
		if occurred.IsZero() {
			occurred = c.now()
		}
		resource := e.Resource
		if resource == nil {
			resource = map[string]string{}
		}
		body[i] = eventBody{ID: id, Occurred: FormatTime(occurred), Event: e.Event, Resource: resource,
			Related: e.Related, Payload: e.Payload, Follows: e.Follows}
	}
	_, err := c.do(ctx, call{op: fmt.Sprintf("send %d events", len(events)), method: http.MethodPost, path: "/events", body: body})
	return err
}
