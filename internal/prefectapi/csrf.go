package prefectapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ecsworker/ecsworker/internal/prefecterr"
)

// csrfSkew renews a token a little before it expires, so that a request
// sent just before the expiry does not arrive just after it.
const csrfSkew = 10 * time.Second

type csrfToken struct {
	Token      string `json:"token"`
	Client     string `json:"client"`
	Expiration Time   `json:"expiration"`
}

// csrfHeader returns the token to send with a mutating request, fetching
// one when none is cached or it expired. It returns "" when CSRF is off:
// for Prefect Cloud, when disabled by PREFECT_CLIENT_CSRF_SUPPORT_ENABLED,
// or once the server said it does not use CSRF.
func (c *Transport) csrfHeader(ctx context.Context) (string, error) {
	c.csrfMu.Lock()
	defer c.csrfMu.Unlock()
	if !c.csrfOn {
		return "", nil
	}
	if c.csrfToken != "" && (c.csrfExpires.IsZero() || c.now().Before(c.csrfExpires.Add(-csrfSkew))) {
		return c.csrfToken, nil
	}
	// The lock is held during the fetch so that concurrent requests wait
	// for one token instead of each fetching its own.
	cl := Call{Op: "fetch a CSRF token", Method: http.MethodGet, Path: "/csrf-token",
		Query: url.Values{"client": {c.csrfClient}}}
	resp, err := c.Do(ctx, cl)
	if err != nil {
		var ae *prefecterr.APIError
		if errors.As(err, &ae) && (ae.Status == http.StatusNotFound ||
			(ae.Status == http.StatusUnprocessableEntity && strings.Contains(ae.Detail, "CSRF protection is disabled."))) {
			// An old server without the endpoint, or one with CSRF
			// protection off: Prefect stops asking for good.
			c.csrfOn = false
			c.log.Debug("the Prefect server does not use CSRF tokens", "status", ae.Status)
			return "", nil
		}
		return "", err
	}
	var tok csrfToken
	if err := c.DecodeJSON(cl, resp, &tok); err != nil {
		return "", err
	}
	if tok.Token == "" {
		return "", fmt.Errorf("%s: the server answered without a token: %w", cl.Op, prefecterr.ErrInvalidResponse)
	}
	c.csrfToken, c.csrfExpires = tok.Token, tok.Expiration.Time
	return c.csrfToken, nil
}

// dropCSRFToken forgets a token the server refused, unless another request
// already replaced it.
func (c *Transport) dropCSRFToken(tok string) {
	c.csrfMu.Lock()
	defer c.csrfMu.Unlock()
	if c.csrfToken == tok {
		c.csrfToken = ""
	}
}
