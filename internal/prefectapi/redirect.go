package prefectapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ecsworker/ecsworker/internal/prefectconfig"
)

// Prefect's client (httpx with follow_redirects) follows redirects and
// drops only Authorization when one leaves the origin; the CSRF token and
// PREFECT_CLIENT_CUSTOM_HEADERS, which may carry a proxy's credentials,
// still go along, and Go's own policy ignores the port and keeps
// Authorization on an https→http downgrade. So the client follows
// redirects within the origin of the API URL (same scheme, host and port),
// where every header is meant to go anyway, and refuses any other with a
// RedirectError: nothing at all is sent to the other origin, and the user
// learns which URL to configure instead of having calls half-work.

// RedirectError is a redirect the client refused to follow because it
// leads to another origin (or round in circles).
type RedirectError struct {
	Op     string
	Method string
	URL    string // the request that was redirected, without credentials
	Status int    // the redirect's status, e.g. 307
	// Location is where the server pointed, without credentials or query.
	Location string
	// Suggest is the API URL the redirect implies, when it can be told
	// (the Location ends with the path that was asked for), else "".
	Suggest string

	tooMany bool
	setting string
}

func (e *RedirectError) Error() string {
	prefix := e.Method + " " + e.URL
	if e.Op != "" {
		prefix = e.Op + ": " + prefix
	}
	setting := e.setting
	if setting == "" {
		setting = prefectconfig.EnvAPIURL
	}
	if e.tooMany {
		return fmt.Sprintf("%s: more than %d redirects, the last to %s; set %s to the URL the redirects end at",
			prefix, maxRedirects, e.Location, setting)
	}
	fix := fmt.Sprintf("set %s to the URL the redirect leads to, if that is the Prefect API", setting)
	if e.Suggest != "" {
		fix = fmt.Sprintf("set %s to %s if that is the Prefect API", setting, e.Suggest)
	}
	return fmt.Sprintf("%s: the server redirected (%d %s) to %s, another origin (scheme, host or port); "+
		"the client does not follow redirects away from the API URL, so that the API key, auth string and custom headers "+
		"go nowhere else: %s", prefix, e.Status, http.StatusText(e.Status), e.Location, fix)
}

// sameOriginRedirects is a CheckRedirect that allows redirects within the
// origin of the first request only, then asks next (the CheckRedirect of
// a client given to WithHTTPClient), if any.
func sameOriginRedirects(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		status := 0
		if req.Response != nil {
			status = req.Response.StatusCode
		}
		if !sameOrigin(req.URL, via[0].URL) {
			return &RedirectError{Status: status, Location: shownURL(req.URL)}
		}
		if len(via) >= maxRedirects {
			return &RedirectError{Status: status, Location: shownURL(req.URL), tooMany: true}
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

// shownURL is a URL fit for a message: no user information (a password),
// and no query string, where redirects to login pages carry tokens.
func shownURL(u *url.URL) string {
	v := *u
	v.User = nil
	v.RawQuery, v.ForceQuery, v.Fragment, v.RawFragment = "", false, "", ""
	return v.String()
}

// RedirectErrorFor completes a RedirectError from CheckRedirect with the call
// it stopped, and the API URL to configure when the Location shows it.
func (c *Transport) RedirectErrorFor(cl Call, re *RedirectError) error {
	out := *re
	out.Op, out.Method, out.URL, out.setting = cl.Op, cl.Method, prefectconfig.RedactURL(c.baseURL)+cl.Path, c.cfg.URLSetting()
	if loc, err := url.Parse(re.Location); err == nil && !re.tooMany {
		if base, ok := strings.CutSuffix(loc.EscapedPath(), cl.Path); ok && cl.Path != "" {
			loc.RawPath = ""
			if p, err := url.PathUnescape(base); err == nil {
				loc.Path = strings.TrimRight(p, "/")
				out.Suggest = loc.String()
			}
		}
	}
	return &out
}
