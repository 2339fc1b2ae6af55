package awsclient

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

type recordingClient struct{ body io.Reader }

func (c *recordingClient) Do(r *http.Request) (*http.Response, error) {
	c.body = r.Body
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

// A request body that can write itself is handed on as a plain reader,
// with the same content (see plainBodyClient).
func TestPlainBodyClientHidesWriterTo(t *testing.T) {
	t.Parallel()
	rec := &recordingClient{}
	req, _ := http.NewRequest(http.MethodPost, "http://example.invalid/", io.NopCloser(strings.NewReader("Action=DescribeStacks")))
	req.Body = struct {
		io.ReadCloser
		io.WriterTo
	}{req.Body, strings.NewReader("")}
	if _, err := (plainBodyClient{rec}).Do(req); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec.body.(io.WriterTo); ok {
		t.Fatal("the body still implements io.WriterTo")
	}
	if b, _ := io.ReadAll(rec.body); string(b) != "Action=DescribeStacks" {
		t.Errorf("body %q", b)
	}
}
