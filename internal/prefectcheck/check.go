// Package prefectcheck tells whether the configured Prefect API can be
// used before anything else is asked of it (health, version, and Check,
// which names the setting to fix when it cannot).
package prefectcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"

	"github.com/ecsworker/ecsworker/internal/prefectapi"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefecterr"
)

// Checks are the calls that tell whether the API can be used;
// prefect.Client embeds them.
type Checks struct{ t *prefectapi.Transport }

// New returns the checks of the API that t calls.
func New(t *prefectapi.Transport) Checks { return Checks{t: t} }

// Health checks that the API answers (GET /health). It needs no
// credentials on a self-hosted server, so it tells a network problem from
// an authentication one.
func (c Checks) Health(ctx context.Context) error {
	cl := prefectapi.Call{Op: "check the Prefect API's health", Method: http.MethodGet, Path: "/health"}
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return err
	}
	var ok bool
	if err := c.t.DecodeJSON(cl, resp, &ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: the server says it is not healthy", cl.Op)
	}
	return nil
}

// APIVersion returns the server's API version (GET /version), e.g. "0.8.4".
func (c Checks) APIVersion(ctx context.Context) (string, error) {
	return c.getString(ctx, prefectapi.Call{Op: "read the API version", Method: http.MethodGet, Path: "/version"})
}

// ServerVersion returns the Prefect version of the server
// (GET /admin/version), e.g. "3.8.3".
func (c Checks) ServerVersion(ctx context.Context) (string, error) {
	return c.getString(ctx, prefectapi.Call{Op: "read the server version", Method: http.MethodGet, Path: "/admin/version"})
}

func (c Checks) getString(ctx context.Context, cl prefectapi.Call) (string, error) {
	resp, err := c.t.Do(ctx, cl)
	if err != nil {
		return "", err
	}
	var s string
	if err := c.t.DecodeJSON(cl, resp, &s); err != nil {
		return "", err
	}
	return s, nil
}

// ConnectionError is the error of Check: the API cannot be used as
// configured. It says which URL, what went wrong and what to change, and
// unwraps to the failed call (*prefecterr.TransportError,
// *prefecterr.APIError, *prefectapi.RedirectError, or an error matching
// prefecterr.ErrInvalidResponse), so prefecterr.IsTransient and the
// status sentinels still apply.
type ConnectionError struct {
	URL     string // the API URL, without credentials
	Setting string // where it was set: PREFECT_API_URL, --api-url, PREFECT_API_URL (in profile ...)
	Problem string
	Fix     string
	Err     error
}

func (e *ConnectionError) Error() string {
	return fmt.Sprintf("cannot use the Prefect API at %s (%s): %s; %s", e.URL, e.Setting, e.Problem, e.Fix)
}

func (e *ConnectionError) Unwrap() error { return e.Err }

// Check confirms that the API URL leads to a Prefect API that accepts the
// configured credentials, before anything else is asked of it: GET /health
// (no credentials needed on a self-hosted server, so it tells the network
// from the credentials), then GET /hello (which needs them everywhere).
// Failed connections are retried like every call (PREFECT_CLIENT_MAX_RETRIES,
// with backoff). Any failure is a *ConnectionError naming the URL, the
// cause and the fix; a cancelled ctx is returned as is.
func (c Checks) Check(ctx context.Context) error {
	health := prefectapi.Call{Op: "check the Prefect API", Method: http.MethodGet, Path: "/health"}
	resp, err := c.t.Do(ctx, health)
	switch {
	case err != nil && ctx.Err() != nil:
		return err
	case errors.Is(err, prefecterr.ErrNotFound):
		// Prefect Cloud need not serve /health under a workspace: /hello
		// decides.
	case err != nil:
		return c.connectionError(err)
	default:
		var ok bool
		if err := c.t.DecodeJSON(health, resp, &ok); err != nil {
			return c.notTheAPI(health, resp, err)
		}
	}
	hello := prefectapi.Call{Op: "check the Prefect API", Method: http.MethodGet, Path: "/hello"}
	resp, err = c.t.Do(ctx, hello)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return c.connectionError(err)
	}
	var greeting string
	if err := c.t.DecodeJSON(hello, resp, &greeting); err != nil {
		return c.notTheAPI(hello, resp, err)
	}
	return nil
}

func (c Checks) connErr(problem, fix string, err error) *ConnectionError {
	return &ConnectionError{URL: prefectconfig.RedactURL(c.t.BaseURL()), Setting: c.t.Config().URLSetting(), Problem: problem, Fix: fix, Err: err}
}

// notTheAPI explains a 2xx answer that is not the API's JSON: most often
// the Prefect UI's page, served for any path outside /api.
func (c Checks) notTheAPI(cl prefectapi.Call, resp *prefectapi.Response, err error) error {
	what := "an answer that is not the Prefect API's JSON"
	if bytes.HasPrefix(bytes.TrimSpace(resp.Body), []byte("<")) {
		what = "an HTML page (the Prefect UI, or a proxy's page) instead of the API's JSON"
	}
	problem := fmt.Sprintf("%s %s answered %s", cl.Method, cl.Path, what)
	return c.connErr(problem, c.wrongURLFix(), err)
}

// wrongURLFix is the fix for a URL that reaches a server but not the API.
func (c Checks) wrongURLFix() string {
	if fix := c.t.MissingAPISuffix(); fix != "" {
		return fix
	}
	if c.t.IsCloud() {
		return fmt.Sprintf("the account or workspace in %s is wrong: copy the URL from `prefect cloud workspace ls` or the UI, "+
			"%s/accounts/<account id>/workspaces/<workspace id>", c.t.Config().URLSetting(), c.t.Config().CloudAPI())
	}
	return fmt.Sprintf("set %s to the Prefect API, the server's URL followed by /api (and any path prefix of a proxy in front of it)",
		c.t.Config().URLSetting())
}

func (c Checks) connectionError(err error) error {
	var te *prefecterr.TransportError
	var ae *prefecterr.APIError
	var re *prefectapi.RedirectError
	switch {
	case errors.As(err, &re):
		fix := fmt.Sprintf("set %s to the URL the redirect leads to, if that is the Prefect API", c.t.Config().URLSetting())
		if re.Suggest != "" {
			fix = fmt.Sprintf("set %s to %s if that is the Prefect API", c.t.Config().URLSetting(), re.Suggest)
		}
		return c.connErr(fmt.Sprintf("the server redirects (%d) to %s, another origin, where the client does not send credentials",
			re.Status, re.Location), fix, err)
	case errors.As(err, &te):
		problem, fix := te.Diagnose()
		if te.Timeout == 0 && !errors.Is(te.Err, syscall.ECONNREFUSED) {
			// The underlying error adds what the words leave out (the
			// resolver asked, the certificate's names); for a refused
			// connection it would only repeat them.
			problem += " (" + c.t.Redact(te.Err.Error()) + ")"
		}
		return c.connErr(problem, fix, err)
	case errors.As(err, &ae):
		answered := fmt.Sprintf("%s %s answered %d %s", ae.Method, ae.Path, ae.Status, http.StatusText(ae.Status))
		if ae.Detail != "" && ae.Detail != http.StatusText(ae.Status) {
			answered += ": " + prefecterr.Truncate(ae.Detail, 200)
		}
		switch {
		case ae.Status == http.StatusUnauthorized:
			return c.connErr("the server refused the credentials ("+answered+")", c.credentialsFix(), err)
		case ae.Status == http.StatusForbidden && c.t.IsCloud():
			return c.connErr("the server refused access ("+answered+")",
				fmt.Sprintf("check that %s belongs to a user or service account with access to this workspace", prefectconfig.EnvAPIKey), err)
		case ae.Status == http.StatusForbidden:
			return c.connErr("the server refused access ("+answered+")",
				fmt.Sprintf("check %s, and %s if a proxy in front of the server wants its own credentials",
					prefectconfig.EnvAPIAuthString, prefectconfig.EnvCustomHeaders), err)
		case ae.Status == http.StatusBadRequest && strings.Contains(ae.Detail, "HTTP request to an HTTPS server"):
			return c.connErr("the server speaks HTTPS on this port ("+answered+")",
				fmt.Sprintf("use https:// instead of http:// in %s", c.t.Config().URLSetting()), err)
		case ae.Status == http.StatusNotFound || ae.Status == http.StatusMethodNotAllowed:
			return c.connErr(answered+": this URL is not the Prefect API", c.wrongURLFix(), err)
		case prefecterr.IsTransient(err):
			return c.connErr(answered, fmt.Sprintf("the server is reachable but failing (retried up to %s=%d times); "+
				"check the server's logs and try again", prefectconfig.EnvMaxRetries, c.t.Config().MaxRetries), err)
		}
		return c.connErr(answered, c.wrongURLFix(), err)
	}
	return c.connErr(err.Error(), c.wrongURLFix(), err)
}

// credentialsFix says which credential to fix for a 401.
func (c Checks) credentialsFix() string {
	switch {
	case c.t.Config().AuthString != "":
		return fmt.Sprintf("check %s (user:password, as set in the server's PREFECT_SERVER_API_AUTH_STRING)", prefectconfig.EnvAPIAuthString)
	case c.t.Config().APIKey != "":
		return fmt.Sprintf("check %s (it may be mistyped, expired, or belong to another account)", prefectconfig.EnvAPIKey)
	}
	return fmt.Sprintf("set %s (Prefect Cloud) or %s (a self-hosted server with basic auth)", prefectconfig.EnvAPIKey, prefectconfig.EnvAPIAuthString)
}
