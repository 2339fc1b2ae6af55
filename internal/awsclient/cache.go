package awsclient

import (
	"container/list"
	"context"
	"sync"
)

// The two generic helpers below serve the client factory, the
// task-definition registry (internal/taskdef) and the launcher
// (internal/launch); they live in the foundation because all three use
// them.

// FlightGroup runs at most one call per key at a time: callers that arrive
// while a call for their key is under way wait for its result instead of
// making their own. A waiter whose context ends stops waiting; the call
// itself goes on for the others, under the context of the caller that
// started it.
type FlightGroup[K comparable, V any] struct {
	mu    sync.Mutex
	calls map[K]*flightCall[V]
}

type flightCall[V any] struct {
	done chan struct{}
	val  V
	err  error
}

// Do runs fn for key unless a call for key is already running, and returns
// fn's result; shared is true when the result came from another caller's call.
func (g *FlightGroup[K, V]) Do(ctx context.Context, key K, fn func() (V, error)) (v V, shared bool, err error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[K]*flightCall[V]{}
	}
	if c, ok := g.calls[key]; ok {
		g.mu.Unlock()
		select {
		case <-c.done:
			return c.val, true, c.err
		case <-ctx.Done():
			var zero V
			return zero, true, ctx.Err()
		}
	}
	c := &flightCall[V]{done: make(chan struct{})}
	g.calls[key] = c
	g.mu.Unlock()

	defer func() {
		g.mu.Lock()
		delete(g.calls, key)
		g.mu.Unlock()
		close(c.done)
	}()
	c.val, c.err = fn()
	return c.val, false, c.err
}

// LRU is a small mutex-guarded least-recently-used map.
type LRU[K comparable, V any] struct {
	mu    sync.Mutex
	size  int
	order *list.List // front = most recently used; elements hold *lruEntry
	items map[K]*list.Element
}

type lruEntry[K comparable, V any] struct {
	key K
	val V
}

// NewLRU returns an empty cache of at most size entries (at least one).
func NewLRU[K comparable, V any](size int) *LRU[K, V] {
	if size < 1 {
		size = 1
	}
	return &LRU[K, V]{size: size, order: list.New(), items: map[K]*list.Element{}}
}

// Get returns the entry of k and marks it the most recently used.
func (c *LRU[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.order.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).val, true
	}
	var zero V
	return zero, false
}

// Put sets the entry of k, dropping the least recently used entry when
// the cache is full.
func (c *LRU[K, V]) Put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		e.Value.(*lruEntry[K, V]).val = v
		c.order.MoveToFront(e)
		return
	}
	c.items[k] = c.order.PushFront(&lruEntry[K, V]{key: k, val: v})
	for c.order.Len() > c.size {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*lruEntry[K, V]).key)
	}
}

// RemoveIf drops every entry for which drop returns true and says how many
// went.
func (c *LRU[K, V]) RemoveIf(drop func(K, V) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for e := c.order.Front(); e != nil; {
		next := e.Next()
		ent := e.Value.(*lruEntry[K, V])
		if drop(ent.key, ent.val) {
			c.order.Remove(e)
			delete(c.items, ent.key)
			n++
		}
		e = next
	}
	return n
}
