// Package redact hides secret values (API keys, auth strings, AWS
// credentials, passwords) in values that are about to be shown to a person:
// rendered job configurations, ECS requests, log lines and error messages.
//
// Three rules apply, each on its own, because each catches what the others
// miss:
//
//   - by name: a string under a field or environment variable whose name
//     says it is secret (see SensitiveName) is replaced whole;
//   - by value: the secrets the caller knows (the Prefect API key, AWS keys,
//     block secrets, and in Value whatever the name rule found) are replaced
//     wherever they appear, whatever the name around them, raw or escaped;
//   - in URLs: the password of scheme://user:password@host and the values
//     of query parameters named like secrets are replaced, the rest of the
//     URL stays readable.
//
// Only string contents change: keys, array lengths and the types of values
// stay as they were, so masked JSON has the structure of the original.
package redact

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// Mask replaces a secret value.
const Mask = "********"

// MinSecretLength is the shortest known secret that is masked by value.
// Shorter values (true, 1234, admin, prod) occur in ordinary text: masking
// them everywhere would garble image tags, ARNs and commands, and the gaps
// would tell a reader the secret anyway. Real credentials are far longer
// (API keys 40, AWS secret keys 40, access key ids 20), and 6 still covers
// weak passwords such as "hunter2" and "secret". The name and URL rules
// mask short values too: they know where the secret stands.
const MinSecretLength = 6

// Redactor masks a fixed set of known secrets as well as secret names and
// URL passwords. It is never modified after New, so one Redactor may be
// shared by goroutines (a log handler, say).
type Redactor struct {
	// needles are every form of every secret that could be printed, longest
	// first so that a secret containing another one is masked whole.
	needles []string
}

// New returns a Redactor that knows these secrets. Empty values and values
// shorter than MinSecretLength are ignored.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	r.needles = addNeedles(nil, secrets)
	return r
}

func addNeedles(needles, secrets []string) []string {
	out := slices.Clone(needles)
	for _, s := range secrets {
		if len(s) < MinSecretLength || s == Mask {
			continue
		}
		out = append(out, forms(s)...)
	}
	slices.SortFunc(out, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(out)
}

// forms are the ways a secret can be printed: as it is, escaped inside a
// JSON or Go string (an env value holding JSON, an error quoting with %q),
// and percent-encoded in a URL.
func forms(s string) []string {
	if !strings.ContainsFunc(s, needsEscape) {
		// The common case (API keys, tokens) is printed the same way
		// everywhere; skipping the encoders keeps String cheap for log
		// handlers that call it on every record.
		return []string{s}
	}
	q := strconv.Quote(s)
	return []string{s, jsonString(s, true), jsonString(s, false), q[1 : len(q)-1], url.QueryEscape(s), url.PathEscape(s)}
}

// needsEscape tells the characters that JSON, Go quoting or URL encoding
// may write differently: all but the URL-unreserved ones.
func needsEscape(c rune) bool {
	return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') //nolint:staticcheck // QF1001: RFC 3986's unreserved set, as written there
}

// jsonString is s as it appears between the quotes of a JSON string, as
// encoding/json writes it by default (htmlSafe) or as jsonv writes it.
func jsonString(s string, htmlSafe bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(htmlSafe)
	_ = enc.Encode(s)
	out := b.String() // "…"\n
	return out[1 : len(out)-2]
}

// With returns a Redactor that also knows the secrets found in v: strings
// under secret names and URL passwords. A DB_PASS given in env and again in
// a command line is then masked in both places.
func (r *Redactor) With(v any) *Redactor {
	found := SecretsIn(v)
	if len(found) == 0 {
		return r
	}
	return &Redactor{needles: addNeedles(r.needles, found)}
}

// SecretsIn returns the secrets a jsonv value holds: strings under secret
// names (references such as ARNs excepted) and the passwords of URLs, for
// a caller that keeps a list of secrets for String, such as a log handler
// that learns a job's configuration.
func SecretsIn(v any) []string {
	var found []string
	collect(v, &found)
	return found
}

func collect(v any, found *[]string) {
	switch t := v.(type) {
	case *jsonv.Object:
		if t == nil {
			return
		}
		if name, val, ok := nameValuePair(t); ok && SensitiveName(name) && !isReference(val) {
			*found = append(*found, val)
		}
		for _, k := range t.Keys() {
			e, _ := t.Get(k)
			if s, ok := e.(string); ok && SensitiveName(k) && !isReference(s) {
				*found = append(*found, s)
				continue
			}
			collect(e, found)
		}
	case []any:
		for _, e := range t {
			collect(e, found)
		}
	case string:
		*found = append(*found, urlPasswords(t)...)
	}
}

// String masks the known secrets and URL passwords in s, which may be any
// text: a log line, an error message, a JSON document.
func (r *Redactor) String(s string) string {
	for _, n := range r.needles {
		if strings.Contains(s, n) {
			s = strings.ReplaceAll(s, n, Mask)
		}
	}
	return maskURLs(s)
}

// Value returns a deep copy of v (a jsonv value) with every secret masked
// by the three rules, and where values were masked: the environment
// variable or field name nearest to each, sorted and without duplicates,
// for telling the user without showing the values. The secrets v holds
// under secret names are masked wherever else they appear in v too.
func (r *Redactor) Value(v any) (any, []string) {
	w := &walker{r: r.With(v), where: map[string]bool{}}
	out := w.walk(jsonv.Clone(v), "")
	where := make([]string, 0, len(w.where))
	for k := range w.where {
		where = append(where, k)
	}
	slices.Sort(where)
	return out, where
}

type walker struct {
	r     *Redactor
	where map[string]bool
}

func (w *walker) mask(s, label string) string {
	if s == "" || s == Mask {
		return s
	}
	if label == "" {
		label = "(top level)"
	}
	w.where[label] = true
	return Mask
}

func (w *walker) walk(v any, label string) any {
	switch t := v.(type) {
	case *jsonv.Object:
		if t == nil {
			return t
		}
		pairName, _, isPair := nameValuePair(t)
		for _, k := range t.Keys() {
			e, _ := t.Get(k)
			at := k
			if isPair && k == "value" {
				// An ECS environment entry: the variable's name says more
				// than "value", and decides whether the value is secret.
				at = pairName
				if s, ok := e.(string); ok && SensitiveName(pairName) && !isReference(s) {
					t.Set(k, w.mask(s, at))
					continue
				}
			}
			if s, ok := e.(string); ok && SensitiveName(k) && !isReference(s) {
				t.Set(k, w.mask(s, at))
				continue
			}
			t.Set(k, w.walk(e, at))
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = w.walk(e, label)
		}
		return t
	case string:
		masked := w.r.String(t)
		if masked != t {
			if label == "" {
				label = "(top level)"
			}
			w.where[label] = true
		}
		return masked
	}
	return v
}

// nameValuePair recognises {"name": N, "value": V}, the shape of ECS
// environment entries, whose secret name is a value rather than a key.
func nameValuePair(o *jsonv.Object) (name, value string, ok bool) {
	name = o.GetString("name")
	v, has := o.Get("value")
	s, isStr := v.(string)
	if name == "" || !has || !isStr {
		return "", "", false
	}
	return name, s, true
}

// isReference tells values that point at a secret without holding it: an
// ARN (Secrets Manager, SSM), a template placeholder the dry run could not
// resolve, or a marker for what only AWS knows. Showing them is what makes
// a dry run useful.
func isReference(s string) bool {
	t := strings.TrimSpace(s)
	return strings.HasPrefix(t, "arn:") ||
		strings.HasPrefix(t, "<unresolved:") ||
		(strings.HasPrefix(t, "{{") && strings.HasSuffix(t, "}}"))
}

// SensitiveName reports whether a field or environment variable of this
// name holds a secret. The name is split into words (DB_PASS, dbPass,
// db-pass all give db, pass), and it is secret when a word says so:
//
//   - pass, password, passwd, passphrase (and PGPASSWORD-like compounds),
//     and pwd or pw after another word (DB_PWD; PWD alone is the working
//     directory);
//   - secret, token (also AccessToken-like compounds; not TOKENIZERS_*),
//     auth, authorization, credential(s), creds, signature, connection
//     string;
//   - key after another word (API_KEY, AWS_SECRET_ACCESS_KEY, PRIVATE_KEY,
//     S3_KEY too: masking a harmless one costs nothing) and apikey-like
//     compounds. A field named just "key" is a tag's or label's name.
//
// A name that ends in a word describing a secret rather than holding it is
// not sensitive: _ARN, _ID, _NAME, _PATH, _FILE, _TYPE, _URL, _URI, _TTL,
// _VERSION and the like (PREFECT_API_KEY_SECRET_ARN, PASSWORD_FILE,
// TOKEN_TYPE). URLs are masked by the URL rule instead. The exception is
// the access key id (AWS_ACCESS_KEY_ID, aws_access_key_id): it is half of
// an AWS credential pair, and AWS's own tools hide it too.
func SensitiveName(name string) bool {
	ws := words(name)
	if len(ws) == 0 {
		return false
	}
	last := ws[len(ws)-1]
	if last == "accesskeyid" || hasRun(ws, "access", "key", "id") {
		return true
	}
	if len(ws) > 1 && aboutWords[last] {
		return false
	}
	for i, w := range ws {
		switch {
		case w == "pass", w == "passphrase", strings.Contains(w, "passw"),
			strings.Contains(w, "secret"),
			w == "token", w == "tokens", strings.HasSuffix(w, "token"),
			w == "auth", w == "authorization", w == "authstring", w == "basicauth",
			strings.HasPrefix(w, "credential"), w == "creds", w == "signature",
			w == "connectionstring",
			strings.HasSuffix(w, "apikey"), strings.HasSuffix(w, "accesskey"), strings.HasSuffix(w, "privatekey"), strings.HasSuffix(w, "signingkey"):
			return true
		case i > 0 && (w == "key" || w == "keys"):
			return true
		case i > 0 && i == len(ws)-1 && (w == "pwd" || w == "pw"):
			return true
		case w == "connection" && i+1 < len(ws) && ws[i+1] == "string":
			return true
		}
	}
	return false
}

// aboutWords end names of things that describe or point at a secret.
var aboutWords = map[string]bool{
	"arn": true, "arns": true, "id": true, "ids": true, "name": true, "names": true,
	"path": true, "file": true, "dir": true, "type": true, "length": true, "size": true,
	"ttl": true, "expiration": true, "expiry": true, "expires": true, "seconds": true,
	"timeout": true, "enabled": true, "version": true, "region": true, "url": true,
	"uri": true, "endpoint": true, "host": true, "ref": true, "parameter": true,
	"prefix": true, "header": true, "count": true, "from": true, "sock": true, "socket": true,
}

func hasRun(ws []string, run ...string) bool {
	for i := 0; i+len(run) <= len(ws); i++ {
		if slices.Equal(ws[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

// words splits a name at every non-letter-or-digit and where a lower-case
// letter or digit is followed by an upper-case one, and lowers the words.
func words(name string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	var prev rune
	for _, c := range name {
		switch {
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			flush()
		case unicode.IsUpper(c) && (unicode.IsLower(prev) || unicode.IsDigit(prev)):
			flush()
			cur = append(cur, c)
		default:
			cur = append(cur, c)
		}
		prev = c
	}
	flush()
	return out
}

// urlPattern finds URLs in free text. It stops at white space and quotes,
// which end a URL in a command line, a log line or JSON.
var urlPattern = lazyregexp.New(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>` + "`" + `]+`)

// userInfo matches the user and password at the start of a URL. The
// password may contain an unencoded @ (the last one before the host ends
// it, as URL parsers do) but not / ? #, which end the authority.
var userInfo = lazyregexp.New(`^([A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@]*):([^/?#]*)@`)

// queryParam matches one name=value of a query string.
var queryParam = lazyregexp.New(`([?&;])([^=&;#?]+)=([^&;#]*)`)

// maskURLs masks the password and the secret query parameters of every
// URL in s.
func maskURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlPattern().ReplaceAllStringFunc(s, maskURL)
}

func maskURL(u string) string {
	if m := userInfo().FindStringSubmatchIndex(u); m != nil {
		if pw := u[m[4]:m[5]]; pw != "" && pw != Mask {
			u = u[:m[4]] + Mask + u[m[5]:]
		}
	}
	q := strings.IndexByte(u, '?')
	if q < 0 {
		return u
	}
	query := queryParam().ReplaceAllStringFunc(u[q:], func(p string) string {
		m := queryParam().FindStringSubmatch(p)
		name, val := m[2], m[3]
		if unescaped, err := url.QueryUnescape(name); err == nil {
			name = unescaped
		}
		if val == "" || val == Mask || (!SensitiveName(name) && !strings.EqualFold(name, "sig")) {
			return p
		}
		return m[1] + m[2] + "=" + Mask
	})
	return u[:q] + query
}

// urlPasswords returns the passwords of the URLs in s, as written and
// percent-decoded, so that they can be masked elsewhere too.
func urlPasswords(s string) []string {
	if !strings.Contains(s, "://") {
		return nil
	}
	var out []string
	for _, u := range urlPattern().FindAllString(s, -1) {
		m := userInfo().FindStringSubmatch(u)
		if m == nil || m[2] == "" || m[2] == Mask {
			continue
		}
		out = append(out, m[2])
		if dec, err := url.PathUnescape(m[2]); err == nil && dec != m[2] {
			out = append(out, dec)
		}
	}
	return out
}

// Value returns a deep copy of v in which secret names and URL passwords
// are masked, and the values found under secret names wherever else they
// appear. Use a Redactor to mask known secrets as well.
func Value(v any) any {
	out, _ := New().Value(v)
	return out
}

// String masks every occurrence of the given secret values in s, raw or
// escaped, and the password of every URL. Values shorter than
// MinSecretLength are not masked by value.
func String(s string, secrets ...string) string {
	if len(secrets) == 0 {
		return maskURLs(s)
	}
	return New(secrets...).String(s)
}
