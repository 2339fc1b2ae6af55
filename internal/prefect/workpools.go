package prefect

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// WorkPool is a work pool as the API returns it (WorkPoolResponse).
type WorkPool struct {
	ID                   string        `json:"id"`
	Name                 string        `json:"name"`
	Type                 string        `json:"type"`
	Description          string        `json:"description"`
	BaseJobTemplate      *jsonv.Object `json:"base_job_template"`
	IsPaused             bool          `json:"is_paused"`
	ConcurrencyLimit     *int          `json:"concurrency_limit"`
	Status               string        `json:"status"` // READY, NOT_READY or PAUSED
	DefaultQueueID       string        `json:"default_queue_id"`
	StorageConfiguration *jsonv.Object `json:"storage_configuration"`
	ActiveSlots          *int          `json:"active_slots"`
	Created              Time          `json:"created"`
	Updated              Time          `json:"updated"`
	// Raw is the whole response object as the server wrote it.
	Raw *jsonv.Object `json:"-"`
}

func (w *WorkPool) setRaw(o *jsonv.Object) { w.Raw = o }

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

// ReadWorkPool reads a pool by name (ErrNotFound when it does not exist).
func (c *Client) ReadWorkPool(ctx context.Context, name string) (*WorkPool, error) {
	cl := call{op: fmt.Sprintf("read work pool %q", name), method: http.MethodGet, path: "/work_pools/" + esc(name)}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeOne[WorkPool](c, cl, resp)
}

// CreateWorkPool creates a pool (ErrConflict when it exists; ErrForbidden
// for names starting with "prefect", which are reserved). A name Prefect
// would refuse is a *NameError, before anything is sent.
func (c *Client) CreateWorkPool(ctx context.Context, p WorkPoolCreate) (*WorkPool, error) {
	if err := ValidateWorkPoolName(p.Name); err != nil {
		return nil, err
	}
	cl := call{op: fmt.Sprintf("create work pool %q", p.Name), method: http.MethodPost, path: "/work_pools/", body: p}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	return decodeOne[WorkPool](c, cl, resp)
}

// UpdateWorkPool changes the fields set in u.
func (c *Client) UpdateWorkPool(ctx context.Context, name string, u WorkPoolUpdate) error {
	op := fmt.Sprintf("update work pool %q", name)
	body := u.body()
	if body.Len() == 0 {
		return errors.New(op + ": nothing to change")
	}
	_, err := c.do(ctx, call{op: op, method: http.MethodPatch, path: "/work_pools/" + esc(name), body: body})
	return err
}

// DeleteWorkPool deletes a pool with its queues and workers.
func (c *Client) DeleteWorkPool(ctx context.Context, name string) error {
	_, err := c.do(ctx, call{op: fmt.Sprintf("delete work pool %q", name), method: http.MethodDelete,
		path: "/work_pools/" + esc(name)})
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
	WorkPools *workPoolCriteria `json:"work_pools,omitempty"`
	Limit     int               `json:"limit"`
	Offset    int               `json:"offset"`
}

type workPoolCriteria struct {
	ID   *anyOf `json:"id,omitempty"`
	Name *anyOf `json:"name,omitempty"`
	Type *anyOf `json:"type,omitempty"`
}

// ListWorkPools returns the pools that match f (POST /work_pools/filter).
func (c *Client) ListWorkPools(ctx context.Context, f WorkPoolFilter) ([]WorkPool, error) {
	var crit *workPoolCriteria
	if len(f.Names)+len(f.Types)+len(f.IDs) > 0 {
		crit = &workPoolCriteria{ID: anyOfOrNil(f.IDs), Name: anyOfOrNil(f.Names), Type: anyOfOrNil(f.Types)}
	}
	return paginate(ctx, f.Limit, f.Offset, func(ctx context.Context, limit, offset int) ([]WorkPool, error) {
		cl := call{op: "list work pools", method: http.MethodPost, path: "/work_pools/filter",
			body: workPoolFilterBody{WorkPools: crit, Limit: limit, Offset: offset}}
		resp, err := c.do(ctx, cl)
		if err != nil {
			return nil, err
		}
		return decodeList[WorkPool](c, cl, resp)
	})
}

// paginate fetches up to limit items (all of them when limit is 0) in
// pages no larger than the server accepts.
func paginate[T any](ctx context.Context, limit, offset int, page func(ctx context.Context, limit, offset int) ([]T, error)) ([]T, error) {
	var all []T
	for range maxPages {
		size := maxPageSize
		if limit > 0 {
			size = min(size, limit-len(all))
		}
		items, err := page(ctx, size, offset)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if len(items) < size || (limit > 0 && len(all) >= limit) {
			return all, nil
		}
		offset += len(items)
	}
	return nil, fmt.Errorf("more than %d pages of results: the server seems to ignore offset: %w", maxPages, ErrInvalidResponse)
}
