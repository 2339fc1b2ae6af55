package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go/logging"
)

// ecsTarget prefixes the X-Amz-Target of every ECS call.
const ecsTarget = "AmazonEC2ContainerServiceV20141113."

// recordedCall is the body of one ECS request as the worker sent it.
type recordedCall struct {
	Action string
	Body   []byte
	// ClientToken (RunTask) and Family (RegisterTaskDefinition) tie the
	// request to a flow run's task.
	ClientToken, Family string
	// Failures are the reasons ECS gave for not starting the task
	// (RunTask answers "no capacity" with a failure, not an error).
	Failures []string
}

// recorder keeps the RegisterTaskDefinition and RunTask requests the
// worker's AWS clients send. It sits in the worker's HTTP client, not in
// the AWS test server, so it sees the exact bytes the worker sent (with
// the subnets it resolved and its idempotency token), including RunTask
// calls that ECS refused for lack of capacity.
type recorder struct {
	next http.RoundTripper

	mu    sync.Mutex
	calls []recordedCall
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	action, ok := strings.CutPrefix(req.Header.Get("X-Amz-Target"), ecsTarget)
	if !ok || (action != "RunTask" && action != "RegisterTaskDefinition") || req.Body == nil {
		return r.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	var head struct {
		ClientToken string `json:"clientToken"`
		Family      string `json:"family"`
	}
	_ = json.Unmarshal(body, &head)
	call := recordedCall{Action: action, Body: body, ClientToken: head.ClientToken, Family: head.Family}

	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.ContentLength = int64(len(body))
	resp, err := r.next.RoundTrip(out)
	if err == nil && action == "RunTask" && resp.StatusCode == http.StatusOK {
		answer, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(answer))
		if rerr != nil {
			return nil, rerr
		}
		var res struct {
			Failures []struct {
				Reason string `json:"reason"`
			} `json:"failures"`
		}
		_ = json.Unmarshal(answer, &res)
		for _, f := range res.Failures {
			call.Failures = append(call.Failures, f.Reason)
		}
	}
	r.mu.Lock()
	r.calls = append(r.calls, call)
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) snapshot() []recordedCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recordedCall(nil), r.calls...)
}

// loopbackTransport never uses a proxy: HTTP_PROXY must not send the
// sandbox's traffic (and the secrets it carries) anywhere but 127.0.0.1.
func loopbackTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
}

// hermeticAWS returns load options that keep the SDK away from the
// user's AWS configuration: no shared config or credentials files (so
// ~/.aws is never read) and no FIPS or dual-stack endpoint rewriting.
// Credentials and region come from the deployment's aws_credentials block
// and the endpoint from the factory. The cleanup removes the temporary
// file made when AWS_PROFILE is set.
func hermeticAWS() ([]func(*config.LoadOptions) error, func(), error) {
	opts := []func(*config.LoadOptions) error{
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithUseFIPSEndpoint(aws.FIPSEndpointStateDisabled),
		config.WithUseDualStackEndpoint(aws.DualStackEndpointStateDisabled),
		// The SDK logs to stderr by default, which would tear the live
		// view; what matters reaches the report through the worker.
		config.WithLogger(logging.Nop{}),
	}
	profile := os.Getenv("AWS_PROFILE")
	if profile == "" {
		return opts, func() {}, nil
	}
	// The SDK fails when the profile AWS_PROFILE names is in no file. An
	// empty profile of that name in a throwaway file satisfies it without
	// reading the real one.
	dir, err := os.MkdirTemp("", "ecsworker-sandbox-")
	if err != nil {
		return nil, nil, err
	}
	file := filepath.Join(dir, "credentials")
	if err := os.WriteFile(file, []byte("["+profile+"]\n"), 0o600); err != nil {
		_ = os.RemoveAll(dir) // best effort: the error to report is the write's
		return nil, nil, err
	}
	opts[1] = config.WithSharedCredentialsFiles([]string{file})
	return opts, func() { _ = os.RemoveAll(dir) }, nil
}
