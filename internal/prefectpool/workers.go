package prefectpool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
)

// WorkerHeartbeat is what a worker reports on every sync.
type WorkerHeartbeat struct {
	Name string
	// HeartbeatIntervalSeconds tells the server when to mark the worker
	// offline (after three missed intervals); sent when positive.
	HeartbeatIntervalSeconds int
	// ReturnID asks Prefect Cloud for the worker's id. Servers that do not
	// know the field answer 422; Heartbeat then resends without it.
	ReturnID bool
	// Metadata is sent once to Cloud, e.g. {"integrations": [...]}.
	Metadata *jsonv.Object
}

type heartbeatBody struct {
	Name                     string        `json:"name"`
	HeartbeatIntervalSeconds int           `json:"heartbeat_interval_seconds,omitempty"`
	ReturnID                 bool          `json:"return_id,omitempty"`
	Metadata                 *jsonv.Object `json:"metadata,omitempty"`
}

// Heartbeat records that a worker is alive
// (POST /work_pools/{pool}/workers/heartbeat). It returns the worker's id
// when the server sends one (Cloud with ReturnID), else "".
func (c Pools) Heartbeat(ctx context.Context, pool string, hb WorkerHeartbeat) (string, error) {
	cl := prefectapi.Call{Op: fmt.Sprintf("send heartbeat of worker %q to work pool %q", hb.Name, pool), Method: http.MethodPost,
		Path: "/work_pools/" + prefectapi.Esc(pool) + "/workers/heartbeat",
		Body: heartbeatBody(hb)}
	resp, err := c.t.Do(ctx, cl)
	if err != nil && (hb.ReturnID || hb.Metadata != nil) && errors.Is(err, prefecterr.ErrUnprocessable) {
		// Servers older than Prefect 3.1 validate the body strictly.
		c.t.Logger().Debug("the Prefect server refused return_id/metadata in the heartbeat; resending without them", "error", err.Error())
		cl.Body = heartbeatBody{Name: hb.Name, HeartbeatIntervalSeconds: hb.HeartbeatIntervalSeconds}
		resp, err = c.t.Do(ctx, cl)
	}
	if err != nil {
		return "", err
	}
	return parseWorkerID(resp.Body), nil
}

// parseWorkerID reads the id Cloud returns as the whole body: plain text,
// or a JSON string.
func parseWorkerID(body []byte) string {
	s := strings.TrimSpace(string(body))
	var js string
	if json.Unmarshal([]byte(s), &js) == nil {
		return strings.TrimSpace(js)
	}
	return strings.Trim(s, `"' `)
}

// Worker is a worker as the API returns it (WorkerResponse).
type Worker struct {
	ID                       string          `json:"id"`
	Name                     string          `json:"name"`
	WorkPoolID               string          `json:"work_pool_id"`
	LastHeartbeatTime        prefectapi.Time `json:"last_heartbeat_time"`
	HeartbeatIntervalSeconds *int            `json:"heartbeat_interval_seconds"`
	Status                   string          `json:"status"` // ONLINE or OFFLINE
	Created                  prefectapi.Time `json:"created"`
	Updated                  prefectapi.Time `json:"updated"`
	Raw                      *jsonv.Object   `json:"-"`
}

// SetRaw keeps the response object as the server wrote it.
func (w *Worker) SetRaw(o *jsonv.Object) { w.Raw = o }

// WorkerFilter selects workers of a pool; empty fields match all.
type WorkerFilter struct {
	Statuses            []string // ONLINE, OFFLINE
	LastHeartbeatAfter  time.Time
	LastHeartbeatBefore time.Time
	// Limit is the most workers to return; 0 means all.
	Limit  int
	Offset int
}

type workerFilterBody struct {
	Workers *workerCriteria `json:"workers,omitempty"`
	Limit   int             `json:"limit"`
	Offset  int             `json:"offset"`
}

type workerCriteria struct {
	Status            *prefectapi.AnyOf `json:"status,omitempty"`
	LastHeartbeatTime *timeBounds       `json:"last_heartbeat_time,omitempty"`
}

type timeBounds struct {
	Before *prefectapi.Time `json:"before_,omitempty"`
	After  *prefectapi.Time `json:"after_,omitempty"`
}

// FilterWorkers lists the workers of a pool
// (POST /work_pools/{pool}/workers/filter).
func (c Pools) FilterWorkers(ctx context.Context, pool string, f WorkerFilter) ([]Worker, error) {
	var crit *workerCriteria
	if len(f.Statuses) > 0 || !f.LastHeartbeatAfter.IsZero() || !f.LastHeartbeatBefore.IsZero() {
		crit = &workerCriteria{Status: prefectapi.AnyOfOrNil(f.Statuses)}
		if !f.LastHeartbeatAfter.IsZero() || !f.LastHeartbeatBefore.IsZero() {
			crit.LastHeartbeatTime = &timeBounds{Before: prefectapi.TimePtr(f.LastHeartbeatBefore), After: prefectapi.TimePtr(f.LastHeartbeatAfter)}
		}
	}
	return prefectapi.FilterAll[Worker](ctx, c.t, fmt.Sprintf("list workers of work pool %q", pool), "/work_pools/"+prefectapi.Esc(pool)+"/workers/filter", f.Limit, f.Offset, func(limit, offset int) any {
		return workerFilterBody{Workers: crit, Limit: limit, Offset: offset}
	})
}

// WorkQueue is a queue of a work pool (WorkQueueResponse).
type WorkQueue struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	IsPaused         bool            `json:"is_paused"`
	ConcurrencyLimit *int            `json:"concurrency_limit"`
	Priority         int             `json:"priority"`
	WorkPoolID       string          `json:"work_pool_id"`
	WorkPoolName     string          `json:"work_pool_name"`
	LastPolled       prefectapi.Time `json:"last_polled"`
	Status           string          `json:"status"` // READY, NOT_READY or PAUSED
	Created          prefectapi.Time `json:"created"`
	Updated          prefectapi.Time `json:"updated"`
	Raw              *jsonv.Object   `json:"-"`
}

// SetRaw keeps the response object as the server wrote it.
func (q *WorkQueue) SetRaw(o *jsonv.Object) { q.Raw = o }

// ReadWorkQueue reads a queue of a pool by name.
func (c Pools) ReadWorkQueue(ctx context.Context, pool, name string) (*WorkQueue, error) {
	cl := prefectapi.Call{Op: fmt.Sprintf("read work queue %q of work pool %q", name, pool), Method: http.MethodGet,
		Path: "/work_pools/" + prefectapi.Esc(pool) + "/queues/" + prefectapi.Esc(name)}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return prefectapi.DecodeOne[WorkQueue](c.t, cl, resp)
}

// WorkQueueFilter selects queues of a pool; empty fields match all.
type WorkQueueFilter struct {
	Names []string
	IDs   []string
	// Limit is the most queues to return; 0 means all.
	Limit  int
	Offset int
}

type workQueueFilterBody struct {
	WorkQueues *workQueueCriteria `json:"work_queues,omitempty"`
	Limit      int                `json:"limit"`
	Offset     int                `json:"offset"`
}

type workQueueCriteria struct {
	ID   *prefectapi.AnyOf `json:"id,omitempty"`
	Name *prefectapi.AnyOf `json:"name,omitempty"`
}

// FilterWorkQueues lists queues of a pool
// (POST /work_pools/{pool}/queues/filter).
func (c Pools) FilterWorkQueues(ctx context.Context, pool string, f WorkQueueFilter) ([]WorkQueue, error) {
	var crit *workQueueCriteria
	if len(f.Names)+len(f.IDs) > 0 {
		crit = &workQueueCriteria{ID: prefectapi.AnyOfOrNil(f.IDs), Name: prefectapi.AnyOfOrNil(f.Names)}
	}
	return prefectapi.FilterAll[WorkQueue](ctx, c.t, fmt.Sprintf("list work queues of work pool %q", pool), "/work_pools/"+prefectapi.Esc(pool)+"/queues/filter", f.Limit, f.Offset, func(limit, offset int) any {
		return workQueueFilterBody{WorkQueues: crit, Limit: limit, Offset: offset}
	})
}
