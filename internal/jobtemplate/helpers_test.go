package jobtemplate_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/templating"
)

func parseTemplate(t testing.TB, s string) *jobtemplate.Template {
	t.Helper()
	tmpl, err := jobtemplate.Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tmpl
}

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// fakeResolver is an in-memory Prefect API that counts reads, so tests can
// check Prefect's "one read per document or variable per render" caching.
type fakeResolver struct {
	mu        sync.Mutex
	byID      map[string]string // id -> data JSON
	byName    map[string]string // "slug/name" -> data JSON
	variables map[string]string // name -> value JSON
	err       error             // returned by every call when set
	quiet     bool              // do not log calls (benchmarks)
	calls     []string
}

func (f *fakeResolver) record(call string) {
	if f.quiet {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeResolver) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeResolver) BlockDocument(_ context.Context, id string) (*jsonv.Object, error) {
	f.record("id:" + id)
	if f.err != nil {
		return nil, f.err
	}
	data, ok := f.byID[id]
	if !ok {
		return nil, fmt.Errorf("GET /block_documents/%s: 404: %w", id, templating.ErrNotFound)
	}
	return jsonv.DecodeObject([]byte(data))
}

func (f *fakeResolver) BlockDocumentByName(_ context.Context, slug, name string) (*jsonv.Object, error) {
	f.record("name:" + slug + "/" + name)
	if f.err != nil {
		return nil, f.err
	}
	data, ok := f.byName[slug+"/"+name]
	if !ok {
		return nil, fmt.Errorf("GET /block_types/slug/%s/block_documents/name/%s: 404: %w", slug, name, templating.ErrNotFound)
	}
	return jsonv.DecodeObject([]byte(data))
}

func (f *fakeResolver) Variable(_ context.Context, name string) (any, bool, error) {
	f.record("var:" + name)
	if f.err != nil {
		return nil, false, f.err
	}
	data, ok := f.variables[name]
	if !ok {
		return nil, false, nil
	}
	v, err := jsonv.Decode([]byte(data))
	return v, true, err
}
