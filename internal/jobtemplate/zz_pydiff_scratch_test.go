package jobtemplate_test

import (
	"context"
	"encoding/json"
	"github.com/ecsworker/ecsworker/internal/pycompat"
	"os"
	"testing"

	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

func TestScratchPyDiff(t *testing.T) {
	in := os.Getenv("PYDIFF_IN")
	if in == "" {
		t.Skip()
	}
	data, _ := os.ReadFile(in)
	cases, err := jsonv.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	var out []any
	for _, c := range cases.([]any) {
		co := c.(*jsonv.Object)
		tmpl, _ := co.Get("template")
		remove, _ := co.Get("remove")
		r, ok := jobtemplate.ApplyValues(tmpl, co.GetObject("values"), remove.(bool))
		if !ok {
			out = append(out, jsonv.ObjectOf("notset", true))
		} else {
			out = append(out, jsonv.ObjectOf("value", r))
		}
	}
	b, _ := jsonv.Marshal(out)
	os.WriteFile(os.Getenv("PYDIFF_OUT"), b, 0o644)
}

type scratchAPI struct{ api *jsonv.Object }

func (s scratchAPI) BlockDocument(_ context.Context, id string) (*jsonv.Object, error) {
	d := s.api.GetObject("byID").GetObject(id)
	if d == nil {
		return nil, jobtemplate.ErrNotFound
	}
	return d, nil
}
func (s scratchAPI) BlockDocumentByName(_ context.Context, slug, name string) (*jsonv.Object, error) {
	d := s.api.GetObject("byName").GetObject(slug + "/" + name)
	if d == nil {
		return nil, jobtemplate.ErrNotFound
	}
	return d, nil
}
func (s scratchAPI) Variable(_ context.Context, name string) (any, bool, error) {
	v, ok := s.api.GetObject("vars").Get(name)
	return v, ok, nil
}

func TestScratchPyDiff2(t *testing.T) {
	in := os.Getenv("PYDIFF2_IN")
	if in == "" {
		t.Skip()
	}
	data, _ := os.ReadFile(in)
	cases, err := jsonv.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	var out []any
	for _, c := range cases.([]any) {
		co := c.(*jsonv.Object)
		tmpl, err := jobtemplate.FromObject(co.GetObject("template"))
		if err != nil {
			out = append(out, jsonv.ObjectOf("error", "FromObject: "+err.Error()))
			continue
		}
		r, err := tmpl.Render(context.Background(), co.GetObject("values"), jobtemplate.RenderOptions{
			Resolver: scratchAPI{co.GetObject("api")}, LookupEnv: os.LookupEnv})
		if err != nil {
			out = append(out, jsonv.ObjectOf("error", err.Error()))
		} else {
			out = append(out, jsonv.ObjectOf("value", r))
		}
	}
	b, _ := jsonv.Marshal(out)
	os.WriteFile(os.Getenv("PYDIFF2_OUT"), b, 0o644)
}

func TestScratchStr(t *testing.T) {
	in := os.Getenv("STR_IN")
	if in == "" {
		t.Skip()
	}
	data, _ := os.ReadFile(in)
	var c struct {
		Docs []string `json:"docs"`
		Py   []string `json:"py"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i, d := range c.Docs {
		v, err := jsonv.Decode([]byte(d))
		if err != nil {
			t.Logf("decode %s: %v", d, err)
			continue
		}
		if got := pycompat.Str(v); got != c.Py[i] {
			bad++
			if bad < 8 {
				t.Logf("doc %s\n go %q\n py %q", d, got, c.Py[i])
			}
		}
	}
	t.Logf("mismatches %d of %d", bad, len(c.Docs))
}
