// Package prefecttest gives tests a real Prefect API client whose server is
// the Prefect API test server, served in the test's process: no socket, so
// it also works inside testing/synctest bubbles. Only tests import it.
package prefecttest

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/ecsworker/ecsworker/internal/fakes/fakenet"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
)

// InProcess returns a client of a new Prefect API test server and the
// server, to seed and to inspect. The client has no events WebSocket in
// process, so its event emitters post their events (POST /events).
func InProcess(t testing.TB, opts prefectfake.Options) (*prefect.Client, *prefectfake.Server) {
	t.Helper()
	srv := prefectfake.New(opts)
	c, err := prefect.New(prefectconfig.Config{APIURL: "http://prefect.test/api"},
		prefectapi.WithHTTPClient(&http.Client{Transport: fakenet.RoundTripper{Handler: srv.Handler()}}))
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// Event is an event as the server received it.
type Event struct {
	ID       string              `json:"id"`
	Event    string              `json:"event"`
	Resource map[string]string   `json:"resource"`
	Related  []map[string]string `json:"related"`
	Follows  string              `json:"follows"`
}

// Events are the events the server received, in order.
func Events(t testing.TB, srv *prefectfake.Server) []Event {
	t.Helper()
	for _, v := range srv.Violations() {
		t.Errorf("the Prefect API test server refused a request: %s", v)
	}
	raw, err := json.Marshal(srv.Events())
	if err != nil {
		t.Fatal(err)
	}
	var evs []Event
	if err := json.Unmarshal(raw, &evs); err != nil {
		t.Fatal(err)
	}
	return evs
}
