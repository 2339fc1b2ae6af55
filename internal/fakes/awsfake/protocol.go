package awsfake

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// wire is how a service is spoken: which request encoding it reads and
// which response and error dialect it answers in.
type wire int

const (
	wireJSON11 wire = iota // ECS, CloudWatch Logs
	wireJSON10             // SQS (query-compatible: also sends x-amzn-query-error)
	wireEC2                // EC2 query, EC2 XML dialect
	wireQuery              // STS query, <ErrorResponse>
)

// service describes one emulated AWS service.
type service struct {
	name string // "ecs", "logs", ...: the key prefix of Calls and Throttle
	wire wire
	// target is the X-Amz-Target prefix for JSON services.
	target string
	// version is the form Version of query services, and xmlns the
	// namespace of their error documents when it is not STS's.
	version string
	xmlns   string
	ops     map[string]op
}

// op is one operation. Unless unlocked is set the dispatcher holds s.mu
// while run executes, after bringing task lifecycles up to date, so that
// handlers see and change one consistent state.
type op struct {
	run      func(s *Server, r *request) (any, *apiError)
	unlocked bool
}

// request is what a handler gets: the raw body for JSON services, the
// parsed form for query ones, and who is calling.
type request struct {
	svc    *service
	action string
	body   []byte
	form   url.Values
	http   *http.Request
	id     string
	akid   string
	// taskID is the ID authorization drew for the first task a tagged
	// RunTask creates, so that the ARN it checked is the one created.
	taskID string
}

// apiError is an AWS error as a service returns it. queryCode is the
// legacy query error code that SQS's JSON protocol carries in the
// x-amzn-query-error header, which the SDK surfaces as ErrorCode().
type apiError struct {
	status    int
	code      string
	message   string
	queryCode string
	// fields are extra members of the JSON error body (ConflictException's
	// resourceIds).
	fields map[string]any
	// throttled marks a refusal that is a rate limit although its code is
	// not a throttling one, so that Throttled() counts it.
	throttled bool
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newErr(status int, code, format string, args ...any) *apiError {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &apiError{status: status, code: code, message: msg}
}

// jsonOp adapts a typed handler: the body is decoded strictly, so an
// unknown member or a value of the wrong type is refused before the handler
// runs, as Coral services answer with SerializationException.
func jsonOp[In any](fn func(s *Server, in *In, r *request) (any, *apiError)) op {
	return op{run: func(s *Server, r *request) (any, *apiError) {
		var in In
		if err := decodeStrict(r.body, &in); err != nil {
			return nil, err
		}
		return fn(s, &in, r)
	}}
}

func decodeStrict(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return serializationError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return newErr(400, "SerializationException", "Unexpected content after the end of the request body.")
	}
	return nil
}

func serializationError(err error) *apiError {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return newErr(400, "SerializationException", "%s value can not be converted to %s (member %q).", jsonKind(te.Value), te.Type.String(), te.Field)
	case errors.As(err, &se):
		return newErr(400, "SerializationException", "Malformed JSON at offset %d.", se.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return newErr(400, "SerializationException", "Unknown member %s in the request.", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return newErr(400, "SerializationException", "%v", err)
}

func jsonKind(v string) string {
	switch v {
	case "string":
		return "STRING_VALUE"
	case "number", "number int", "number float":
		return "NUMBER_VALUE"
	case "bool":
		return "BOOLEAN_VALUE"
	case "array":
		return "START_ARRAY"
	case "object":
		return "START_OBJECT"
	}
	return strings.ToUpper(v)
}

// awsTime is a timestamp as awsJson encodes it: epoch seconds with
// millisecond precision as a JSON number.
type awsTime struct{ t time.Time }

func at(t time.Time) awsTime { return awsTime{t} }

func (a awsTime) IsZero() bool { return a.t.IsZero() }

func (a awsTime) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(a.t.UnixMilli())/1000, 'f', -1, 64)), nil
}

func (a *awsTime) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return errors.New("a timestamp must be a number of epoch seconds")
	}
	a.t = time.UnixMilli(int64(f * 1000)).UTC()
	return nil
}

// encodeResult renders a successful response in the service's dialect.
// Handlers return values that may share memory with the server's state, so
// this runs while the server is still locked.
func encodeResult(r *request, out any) ([]byte, *apiError) {
	switch r.svc.wire {
	case wireEC2, wireQuery:
		body, err := xml.Marshal(out)
		if err != nil {
			return nil, newErr(500, "InternalError", "fake: %v", err)
		}
		return append([]byte(xml.Header), body...), nil
	}
	if out == nil {
		return []byte("{}"), nil
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, newErr(500, "InternalFailure", "fake: %v", err)
	}
	return body, nil
}

func writeBody(w http.ResponseWriter, r *request, body []byte) {
	switch r.svc.wire {
	case wireEC2, wireQuery:
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	default:
		w.Header().Set("Content-Type", jsonContentType(r.svc.wire))
	}
	w.Header().Set("x-amzn-RequestId", r.id)
	w.WriteHeader(200)
	w.Write(body)
}

func jsonContentType(wr wire) string {
	if wr == wireJSON10 {
		return "application/x-amz-json-1.0"
	}
	return "application/x-amz-json-1.1"
}

// writeError writes e in the dialect of the service the request was for.
func writeError(w http.ResponseWriter, r *request, e *apiError) {
	wr := wireJSON11
	if r.svc != nil {
		wr = r.svc.wire
	}
	w.Header().Set("x-amzn-RequestId", r.id)
	switch wr {
	case wireJSON10, wireJSON11:
		body := map[string]any{}
		for k, v := range e.fields {
			body[k] = v
		}
		body["__type"] = e.code
		body["message"] = e.message
		if wr == wireJSON10 {
			// SQS names its errors by shape ID and carries the query code
			// the SDK reports as ErrorCode() in a header.
			if !strings.Contains(e.code, "#") {
				body["__type"] = "com.amazonaws.sqs#" + e.code
			}
			qc := e.queryCode
			if qc == "" {
				qc = e.code
			}
			fault := "Sender"
			if e.status >= 500 {
				fault = "Receiver"
			}
			w.Header().Set("x-amzn-query-error", qc+";"+fault)
		}
		b, _ := json.Marshal(body)
		w.Header().Set("Content-Type", jsonContentType(wr))
		w.WriteHeader(e.status)
		w.Write(b)
	case wireEC2:
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		w.WriteHeader(e.status)
		fmt.Fprintf(w, "%s<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID></Response>",
			xml.Header, xmlEscape(e.code), xmlEscape(e.message), r.id)
	case wireQuery:
		typ := "Sender"
		if e.status >= 500 {
			typ = "Receiver"
		}
		ns := stsXMLNS
		if r.svc != nil && r.svc.xmlns != "" {
			ns = r.svc.xmlns
		}
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		w.WriteHeader(e.status)
		fmt.Fprintf(w, "%s<ErrorResponse xmlns=\"%s\"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>",
			xml.Header, ns, typ, xmlEscape(e.code), xmlEscape(e.message), r.id)
	}
}

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails a write
	return b.String()
}

// accessKeyID extracts the access key from a SigV4 Authorization header or
// presigned query; "" means the request is unsigned.
func accessKeyID(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		cred := r.URL.Query().Get("X-Amz-Credential")
		if cred == "" {
			return ""
		}
		akid, _, _ := strings.Cut(cred, "/")
		return akid
	}
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return "unknown"
	}
	akid, _, _ := strings.Cut(rest, "/")
	if akid == "" {
		return "unknown"
	}
	return akid
}

// signingRegion is the region of a SigV4 request's credential scope
// (AKID/DATE/REGION/SERVICE/aws4_request): the region the client meant
// to reach. "" when the request does not say.
func signingRegion(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, rest, _ := strings.Cut(auth, "Credential=")
		cred, _, _ = strings.Cut(rest, ",")
	}
	parts := strings.Split(cred, "/")
	if len(parts) < 5 {
		return ""
	}
	return parts[2]
}

// missingAuth is what each dialect answers to an unsigned request: 403
// MissingAuthenticationToken, as in the AWS common errors list; JSON
// services name it with the Exception suffix.
func missingAuth(wr wire) *apiError {
	switch wr {
	case wireEC2, wireQuery:
		return newErr(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
	case wireJSON10:
		e := newErr(403, "MissingAuthenticationTokenException", "Request is missing Authentication Token")
		e.queryCode = "MissingAuthenticationToken"
		return e
	}
	return newErr(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
}

// Pagination tokens are opaque to clients; here they carry an offset so
// that a stale or forged token is detectable.
func pageToken(offset int) string {
	return "tok." + strconv.Itoa(offset) + ".awsfake"
}

func parsePageToken(tok string) (int, bool) {
	if tok == "" {
		return 0, true
	}
	s, ok := strings.CutPrefix(tok, "tok.")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".awsfake")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// page cuts items at a token and size; next is "" on the last page.
func page[T any](items []T, token string, max, def, limit int) (out []T, next string, ok bool) {
	off, ok := parsePageToken(token)
	if !ok || off > len(items) {
		return nil, "", false
	}
	if max <= 0 {
		max = def
	}
	if max > limit {
		max = limit
	}
	end := min(off+max, len(items))
	out = items[off:end]
	if end < len(items) {
		next = pageToken(end)
	}
	return out, next, true
}
