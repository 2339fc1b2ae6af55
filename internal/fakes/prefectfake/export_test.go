package prefectfake

import (
	"net/http"
	"sort"
)

// Operations lists "METHOD /path" of every operation in the embedded
// OpenAPI documents.
func Operations(cloud bool) []string {
	c, err := loadContract(cloud)
	if err != nil {
		panic(err)
	}
	var out []string
	for k := range c.ops {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// CheckResponse runs the server's own response check on a body it might
// have produced, returning the violations it records.
func CheckResponse(method, path string, status int, body any) []string {
	s := New(Options{})
	c := &call{op: s.contract.ops[method+" "+path], path: path}
	c.r = fakeRequest(method)
	s.respond(discard{}, c, jsonReply(status, body))
	return s.Violations()
}

func fakeRequest(method string) *http.Request {
	r, _ := http.NewRequest(method, "http://fake/api", nil)
	return r
}

type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
