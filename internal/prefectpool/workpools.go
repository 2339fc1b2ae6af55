// Package prefectpool holds the Prefect API's work pools, their workers
// (heartbeats) and their work queues, with the rules Prefect applies to
// their names.
package prefectpool

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefectapi"
)

// Pools are the calls on work pools, their workers and their queues;
// prefect.Client embeds them.
type Pools struct{ t *prefectapi.Transport }

// New returns the calls on work pools made through t.
func New(t *prefectapi.Transport) Pools { return Pools{t: t} }

// WorkPool is a work pool as the API returns it (WorkPoolResponse).
type WorkPool struct {
	ID                   string          `json:"id"`
	Name                 string          `json:"name"`
	Type                 string          `json:"type"`
	Description          string          `json:"description"`
	BaseJobTemplate      *jsonv.Object   `json:"base_job_template"`
	IsPaused             bool            `json:"is_paused"`
	ConcurrencyLimit     *int            `json:"concurrency_limit"`
	Status               string          `json:"status"` // READY, NOT_READY or PAUSED
	DefaultQueueID       string          `json:"default_queue_id"`
	StorageConfiguration *jsonv.Object   `json:"storage_configuration"`
	ActiveSlots          *int            `json:"active_slots"`
	Created              prefectapi.Time `json:"created"`
	Updated              prefectapi.Time `json:"updated"`
	// Raw is the whole response object as the server wrote it.
	Raw *jsonv.Object `json:"-"`
}

// SetRaw keeps the response object as the server wrote it.
func (w *WorkPool) SetRaw(o *jsonv.Object) { w.Raw = o }

// WorkPoolCreate is the body of POST /work_pools/. Zero fields are not
// sent, so the server's defaults apply.
type WorkPoolCreate struct {
	Name string `json:"name"`
	// Type is sent even when empty would do: the server's default type is
	// "prefect-agent", which no worker serves.
	Type                 string        `json:"type"`
	Description          *string       `json:"description,omitempty"`
	BaseJobTemplate      *jsonv.Object `json:"base_job_template,omitempty"`
	IsPaused             bool          `json:"is_paused,omitempty"`
	ConcurrencyLimit     *int          `json:"concurrency_limit,omitempty"`
	StorageConfiguration *jsonv.Object `json:"storage_configuration,omitempty"`
}

// WorkPoolUpdate is the body of PATCH /work_pools/{name}: only the fields
// set are sent, and the server changes exactly those.
type WorkPoolUpdate struct {
	Description      *string
	IsPaused         *bool
	BaseJobTemplate  *jsonv.Object
	ConcurrencyLimit *int
	// ClearConcurrencyLimit removes the pool's limit (sends null).
	ClearConcurrencyLimit bool
	StorageConfiguration  *jsonv.Object
}

func (u WorkPoolUpdate) body() *jsonv.Object {
	o := jsonv.NewObject()
	if u.Description != nil {
		o.Set("description", *u.Description)
	}
	if u.IsPaused != nil {
		o.Set("is_paused", *u.IsPaused)
	}
	if u.BaseJobTemplate != nil {
		o.Set("base_job_template", u.BaseJobTemplate)
	}
	switch {
	case u.ClearConcurrencyLimit:
		o.Set("concurrency_limit", nil)
	case u.ConcurrencyLimit != nil:
		o.Set("concurrency_limit", jsonv.Normalize(*u.ConcurrencyLimit))
	}
	if u.StorageConfiguration != nil {
		o.Set("storage_configuration", u.StorageConfiguration)
	}
	return o
}

// MarshalJSON writes only the fields that are set.
func (u WorkPoolUpdate) MarshalJSON() ([]byte, error) { return jsonv.Marshal(u.body()) }

// ReadWorkPool reads a pool by name (prefecterr.ErrNotFound when it does not exist).
func (c Pools) ReadWorkPool(ctx context.Context, name string) (*WorkPool, error) {
	cl := prefectapi.Call{Op: fmt.Sprintf("read work pool %q", name), Method: http.MethodGet, Path: "/work_pools/" + prefectapi.Esc(name)}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return prefectapi.DecodeOne[WorkPool](c.t, cl, resp)
}

// CreateWorkPool creates a pool (prefecterr.ErrConflict when it exists; prefecterr.ErrForbidden
// for names starting with "prefect", which are reserved). A name Prefect
// would refuse is a *NameError, before anything is sent.
func (c Pools) CreateWorkPool(ctx context.Context, p WorkPoolCreate) (*WorkPool, error) {
	if err := ValidateWorkPoolName(p.Name); err != nil {
		return nil, err
	}
	cl := prefectapi.Call{Op: fmt.Sprintf("create work pool %q", p.Name), Method: http.MethodPost, Path: "/work_pools/", Body: p}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return prefectapi.DecodeOne[WorkPool](c.t, cl, resp)
}

// UpdateWorkPool changes the fields set in u.
func (c Pools) UpdateWorkPool(ctx context.Context, name string, u WorkPoolUpdate) error {
	op := fmt.Sprintf("update work pool %q", name)
	body := u.body()
	if body.Len() == 0 {
		return errors.New(op + ": nothing to change")
	}
	_, err := c.t.Do(ctx, prefectapi.Call{Op: op, Method: http.MethodPatch, Path: "/work_pools/" + prefectapi.Esc(name), Body: body})
	return err
}

// DeleteWorkPool deletes a pool with its queues and workers.
func (c Pools) DeleteWorkPool(ctx context.Context, name string) error {
	_, err := c.t.Do(ctx, prefectapi.Call{Op: fmt.Sprintf("delete work pool %q", name), Method: http.MethodDelete,
		Path: "/work_pools/" + prefectapi.Esc(name)})
	return err
}

// WorkPoolFilter selects pools for ListWorkPools; empty fields match all.
type WorkPoolFilter struct {
	Names []string
	Types []string
	IDs   []string
	// Limit is the most pools to return; 0 means all of them. Either way
	// they are fetched in pages of at most 200, the server's maximum.
	Limit  int
	Offset int
}

type workPoolFilterBody struct {
	WorkPools *prefectapi.WorkPoolCriteria `json:"work_pools,omitempty"`
	Limit     int                          `json:"limit"`
	Offset    int                          `json:"offset"`
}

// ListWorkPools returns the pools that match f (POST /work_pools/filter).
func (c Pools) ListWorkPools(ctx context.Context, f WorkPoolFilter) ([]WorkPool, error) {
	var crit *prefectapi.WorkPoolCriteria
	if len(f.Names)+len(f.Types)+len(f.IDs) > 0 {
		crit = &prefectapi.WorkPoolCriteria{ID: prefectapi.AnyOfOrNil(f.IDs), Name: prefectapi.AnyOfOrNil(f.Names), Type: prefectapi.AnyOfOrNil(f.Types)}
	}
	return prefectapi.FilterAll[WorkPool](ctx, c.t, "list work pools", "/work_pools/filter", f.Limit, f.Offset, func(limit, offset int) any {
		return workPoolFilterBody{WorkPools: crit, Limit: limit, Offset: offset}
	})
}
