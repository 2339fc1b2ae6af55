package prefect

import (
	"context"
	"fmt"
	"net/http"
)

// Health checks that the API answers (GET /health). It needs no
// credentials on a self-hosted server, so it tells a network problem from
// an authentication one.
func (c *Client) Health(ctx context.Context) error {
	cl := call{op: "check the Prefect API's health", method: http.MethodGet, path: "/health"}
	resp, err := c.do(ctx, cl)
	if err != nil {
		return err
	}
	var ok bool
	if err := c.decodeJSON(cl, resp, &ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: the server says it is not healthy", cl.op)
	}
	return nil
}

// APIVersion returns the server's API version (GET /version), e.g. "0.8.4".
func (c *Client) APIVersion(ctx context.Context) (string, error) {
	return c.getString(ctx, call{op: "read the API version", method: http.MethodGet, path: "/version"})
}

// ServerVersion returns the Prefect version of the server
// (GET /admin/version), e.g. "3.8.3".
func (c *Client) ServerVersion(ctx context.Context) (string, error) {
	return c.getString(ctx, call{op: "read the server version", method: http.MethodGet, path: "/admin/version"})
}

func (c *Client) getString(ctx context.Context, cl call) (string, error) {
	resp, err := c.do(ctx, cl)
	if err != nil {
		return "", err
	}
	var s string
	if err := c.decodeJSON(cl, resp, &s); err != nil {
		return "", err
	}
	return s, nil
}
