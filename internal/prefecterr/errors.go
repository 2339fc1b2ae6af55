// Package prefecterr holds the errors of the Prefect API client: the
// sentinels to match with errors.Is, the server's answers other than 2xx
// with the explanation read from their body, and the calls that got no
// answer with what that means and what fixes it.
package prefecterr

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/redact"
)

// Sentinels for errors.Is on what the API answered.
var (
	ErrNotFound        = errors.New("not found")            // 404
	ErrUnauthorized    = errors.New("unauthorized")         // 401
	ErrForbidden       = errors.New("forbidden")            // 403
	ErrConflict        = errors.New("conflict")             // 409
	ErrUnprocessable   = errors.New("unprocessable")        // 422
	ErrInvalidResponse = errors.New("invalid API response") // a body that is not what the API documents
)

// APIError is an answer of the API other than 2xx, after retries.
type APIError struct {
	Op     string // what was being done, e.g. `read work pool "x"`
	Method string
	Path   string // relative to the API URL, as sent
	Status int
	// Detail is the server's explanation (detail, exception_message and
	// exception_detail of the body), with secrets masked.
	Detail string
	// RetryAfter is the server's Retry-After, if it sent one.
	RetryAfter time.Duration
	// Hint says what to change, when the client can tell (a URL without
	// /api, refused credentials); Error shows it in parentheses.
	Hint string
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op + ": ")
	}
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	return b.String()
}

// Is matches the sentinel of the status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrUnprocessable:
		return e.Status == http.StatusUnprocessableEntity
	}
	return false
}

// TransportError is a request that got no HTTP answer: the connection
// failed, or no response came within the timeout.
type TransportError struct {
	Op     string
	Method string
	URL    string // full URL without credentials
	Err    error
	// Timeout is the request timeout when that is what ended the request.
	Timeout time.Duration

	secrets []string
	setting string // where the API URL was set, for the hint
}

// NewTransportError is the error of a call that got no answer: err is
// why, timeout the request timeout when that is what ended it, setting
// where the API URL was set (for the fix), and secrets what to mask in
// the message.
func NewTransportError(op, method, url string, err error, timeout time.Duration, setting string, secrets []string) *TransportError {
	return &TransportError{Op: op, Method: method, URL: url, Err: err, Timeout: timeout, setting: setting, secrets: secrets}
}

func (e *TransportError) Error() string {
	prefix := e.Method + " " + e.URL
	if e.Op != "" {
		prefix = e.Op + ": " + prefix
	}
	if e.Timeout > 0 {
		return fmt.Sprintf("%s: no response within %s (raise %s if the server is slow)", prefix, e.Timeout, prefectconfig.EnvRequestTimeout)
	}
	msg := redact.String(e.Err.Error(), e.secrets...)
	if errors.Is(e.Err, context.Canceled) || errors.Is(e.Err, context.DeadlineExceeded) {
		return prefix + ": " + msg
	}
	_, fix := e.Diagnose()
	return prefix + ": " + msg + " (" + fix + ")"
}

// Diagnose names what a connection failure means and what fixes it.
func (e *TransportError) Diagnose() (problem, fix string) {
	setting := e.setting
	if setting == "" {
		setting = prefectconfig.EnvAPIURL
	}
	host := ""
	if u, err := url.Parse(e.URL); err == nil {
		host = u.Host
	}
	err := e.Err
	var (
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalid     x509.CertificateInvalidError
		certErr     *tls.CertificateVerificationError
		recordErr   tls.RecordHeaderError
		dnsErr      *net.DNSError
	)
	switch {
	case e.Timeout > 0:
		return fmt.Sprintf("no answer within %s", e.Timeout),
			fmt.Sprintf("check the host and port in %s and any firewall on the way, or raise %s if the server is slow", setting, prefectconfig.EnvRequestTimeout)
	case errors.As(err, &unknownAuth):
		return "the server's TLS certificate is signed by an authority this machine does not trust",
			fmt.Sprintf("set %s to a PEM file with the certificate of that authority (or, for a test server only, %s=true)",
				prefectconfig.EnvSSLCertFile, prefectconfig.EnvTLSInsecure)
	case errors.As(err, &hostErr):
		return fmt.Sprintf("the server's TLS certificate is not valid for %s", hostErr.Host),
			fmt.Sprintf("use in %s a host name the certificate names, or fix the certificate (%s=true skips the check, for a test server only)",
				setting, prefectconfig.EnvTLSInsecure)
	case errors.As(err, &invalid):
		return "the server's TLS certificate is not valid (expired, not yet valid, or not for a server)",
			fmt.Sprintf("renew the server's certificate, or set %s if it is signed by a private authority", prefectconfig.EnvSSLCertFile)
	case errors.As(err, &certErr):
		return "the server's TLS certificate was refused",
			fmt.Sprintf("set %s to a PEM file with the certificate authority that signed it (or, for a test server only, %s=true)",
				prefectconfig.EnvSSLCertFile, prefectconfig.EnvTLSInsecure)
	case errors.As(err, &recordErr) || IsHTTPToHTTPS(err):
		return fmt.Sprintf("the server at %s does not speak TLS", host),
			fmt.Sprintf("use http:// instead of https:// in %s", setting)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("nothing is listening at %s (connection refused)", host),
			fmt.Sprintf("start the Prefect server, or correct the host and port in %s", setting)
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fmt.Sprintf("the host name %q does not resolve", dnsErr.Name),
			fmt.Sprintf("correct the host name in %s, or check this machine's DNS settings", setting)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("the host name %q could not be looked up", dnsErr.Name),
			fmt.Sprintf("check this machine's DNS settings and the host name in %s", setting)
	}
	return "the connection failed", fmt.Sprintf("is %s right and the server up?", setting)
}

// IsHTTPToHTTPS is net/http's error for a TLS request that got a plain
// HTTP answer; it has no type of its own.
func IsHTTPToHTTPS(err error) bool {
	return err != nil && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

func (e *TransportError) Unwrap() error { return e.Err }

// IsTransient reports whether an error is worth trying again later: no
// answer at all, or a server-side failure (5xx, 408, 429). Prefect's worker
// loops count these as soft failures and crash on everything else.
func IsTransient(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return !errors.Is(te.Err, context.Canceled) && (te.Timeout > 0 || !errors.Is(te.Err, context.DeadlineExceeded))
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500 || ae.Status == http.StatusRequestTimeout || ae.Status == http.StatusTooManyRequests
	}
	return false
}

// maxDetail bounds the detail kept from an error body: a 422 echoes the
// whole request, which may be a base job template.
const maxDetail = 1000

// ParseDetail extracts the server's explanation from an error body:
// FastAPI's {"detail": ...}, Prefect's {"exception_message": ...,
// "exception_detail": [...]}, or the text of a non-JSON body (a proxy's page).
func ParseDetail(body []byte) string {
	text := strings.TrimSpace(string(body))
	if text == "" {
		return ""
	}
	v, err := jsonv.Decode(body)
	if err != nil {
		if errors.Is(err, jsonv.ErrTooDeep) {
			return fmt.Sprintf("a JSON body of %d bytes nested too deeply to read (%v)", len(body), err)
		}
		if strings.HasPrefix(text, "<") {
			if t := htmlTitle(text); t != "" {
				return Truncate("HTML page: "+t, maxDetail)
			}
			return "an HTML page (not the Prefect API?)"
		}
		return Truncate(strings.Join(strings.Fields(text), " "), maxDetail)
	}
	var parts []string
	switch t := v.(type) {
	case string:
		parts = append(parts, t)
	case *jsonv.Object:
		if d, ok := t.Get("detail"); ok {
			parts = append(parts, describeDetail(d))
		}
		if m := t.GetString("exception_message"); m != "" {
			parts = append(parts, m)
		}
		if d, ok := t.Get("exception_detail"); ok && d != nil {
			parts = append(parts, describeDetail(d))
		}
		if len(parts) == 0 {
			b, _ := jsonv.Marshal(t)
			parts = append(parts, string(b))
		}
	default:
		b, _ := jsonv.Marshal(t)
		parts = append(parts, string(b))
	}
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return Truncate(strings.Join(out, ": "), maxDetail)
}

// describeDetail renders a detail value: a string as is, a list of pydantic
// errors as "loc: msg" items.
func describeDetail(d any) string {
	switch t := d.(type) {
	case string:
		return t
	case []any:
		const maxItems = 5
		var items []string
		for i, e := range t {
			if i == maxItems {
				items = append(items, fmt.Sprintf("and %d more", len(t)-maxItems))
				break
			}
			items = append(items, describeValidationError(e))
		}
		return strings.Join(items, "; ")
	case nil:
		return ""
	}
	b, _ := jsonv.Marshal(d)
	return string(b)
}

func describeValidationError(e any) string {
	o, ok := e.(*jsonv.Object)
	if !ok {
		b, _ := jsonv.Marshal(e)
		return string(b)
	}
	msg := o.GetString("msg")
	var loc []string
	for _, l := range o.GetArray("loc") {
		switch v := l.(type) {
		case string:
			loc = append(loc, v)
		default:
			b, _ := jsonv.Marshal(v)
			loc = append(loc, "["+string(b)+"]")
		}
	}
	if len(loc) == 0 {
		if msg == "" {
			b, _ := jsonv.Marshal(o)
			return string(b)
		}
		return msg
	}
	return strings.ReplaceAll(strings.Join(loc, "."), ".[", "[") + ": " + msg
}

func htmlTitle(s string) string {
	lower := strings.ToLower(s)
	i := strings.Index(lower, "<title>")
	j := strings.Index(lower, "</title>")
	if i < 0 || j < i {
		return ""
	}
	return strings.Join(strings.Fields(s[i+len("<title>"):j]), " ")
}

// Truncate cuts s to at most n bytes on a rune boundary.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
