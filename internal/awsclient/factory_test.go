package awsclient_test

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/awscreds"
)

// recorder is an AWS endpoint that records requests and answers what the
// handler says (an empty JSON object by default).
type recorder struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	bodies   []string
	handle   func(r *http.Request, body string) (status int, resp string)
}

func newRecorder(t testing.TB, tlsServer bool) *recorder {
	rec := &recorder{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.requests = append(rec.requests, r.Clone(context.Background()))
		rec.bodies = append(rec.bodies, string(b))
		handle := rec.handle
		rec.mu.Unlock()
		status, resp := 200, "{}"
		if handle != nil {
			status, resp = handle(r, string(b))
		}
		if strings.HasPrefix(resp, "<") {
			w.Header().Set("Content-Type", "text/xml")
		} else {
			w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, resp)
	})
	rec.Server = httptest.NewUnstartedServer(h)
	rec.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	if tlsServer {
		rec.StartTLS()
	} else {
		rec.Start()
	}
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.requests)
}

func (r *recorder) last() (*http.Request, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.requests) == 0 {
		return nil, ""
	}
	return r.requests[len(r.requests)-1], r.bodies[len(r.bodies)-1]
}

func TestClientFactoryCachesEightSets(t *testing.T) {
	t.Parallel()
	f := awsclient.NewFactory(awsclient.FactoryOptions{LoadOptions: awsclienttest.Isolated(t)})
	ctx := context.Background()
	first, err := f.For(ctx, awsclienttest.StaticCreds("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := f.For(ctx, awsclienttest.StaticCreds("us-east-1"))
	if first != again {
		t.Error("the same credentials gave new clients")
	}
	if first.Region != "us-east-1" {
		t.Errorf("region %q", first.Region)
	}
	other, _ := f.For(ctx, awsclienttest.StaticCreds("eu-west-1"))
	if other == first || other.Region != "eu-west-1" {
		t.Error("another region must give other clients")
	}
	rotated := awsclienttest.StaticCreds("us-east-1")
	rotated.SecretAccessKey = "new-secret"
	if c, _ := f.For(ctx, rotated); c == first {
		t.Error("other secrets must give other clients")
	}
	for i := range 8 {
		c := awsclienttest.StaticCreds("us-east-1")
		c.Profile = ""
		c.AccessKeyID = "AKID" + string(rune('A'+i))
		if _, err := f.For(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if c, _ := f.For(ctx, awsclienttest.StaticCreds("us-east-1")); c == first {
		t.Error("the least recently used set should have been dropped after 8 newer ones")
	}
}

// TestClientEndpoints checks that AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_<SERVICE> are honoured and that the block's
// endpoint_url wins over both. It sets environment variables, so it does
// not run in parallel.
func TestClientEndpoints(t *testing.T) {
	global, ecsOnly, block := newRecorder(t, false), newRecorder(t, false), newRecorder(t, false)
	tests := map[string]struct {
		env              map[string]string
		endpoint         string
		wantECS, wantEC2 *recorder
	}{
		"AWS_ENDPOINT_URL":          {env: map[string]string{"AWS_ENDPOINT_URL": global.URL}, wantECS: global, wantEC2: global},
		"AWS_ENDPOINT_URL_ECS":      {env: map[string]string{"AWS_ENDPOINT_URL": global.URL, "AWS_ENDPOINT_URL_ECS": ecsOnly.URL}, wantECS: ecsOnly, wantEC2: global},
		"the block's endpoint wins": {env: map[string]string{"AWS_ENDPOINT_URL": global.URL, "AWS_ENDPOINT_URL_ECS": ecsOnly.URL}, endpoint: block.URL, wantECS: block, wantEC2: block},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			f := awsclient.NewFactory(awsclient.FactoryOptions{LoadOptions: awsclienttest.Isolated(t), Version: "1.2.3", MaxAttempts: 1})
			creds := awsclienttest.StaticCreds("us-east-1")
			creds.EndpointURL = tc.endpoint
			c, err := f.For(context.Background(), creds)
			if err != nil {
				t.Fatal(err)
			}
			beforeECS, beforeEC2 := tc.wantECS.count(), tc.wantEC2.count()
			_, _ = c.ECS.ListTasks(context.Background(), &ecs.ListTasksInput{})
			if tc.wantECS.count() != beforeECS+1 {
				t.Errorf("ECS call did not reach the expected endpoint")
			}
			req, _ := tc.wantECS.last()
			if ua := req.Header.Get("User-Agent"); !strings.Contains(ua, "ecsworker/1.2.3") {
				t.Errorf("User-Agent %q lacks ecsworker/1.2.3", ua)
			}
			_, _ = c.EC2.DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{})
			if tc.wantEC2.count() != beforeEC2+1+boolInt(tc.wantEC2 == tc.wantECS) {
				t.Errorf("EC2 call did not reach the expected endpoint")
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const assumeRoleResponse = `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>ASIAASSUMED</AccessKeyId>
      <SecretAccessKey>assumed-secret</SecretAccessKey>
      <SessionToken>assumed-token</SessionToken>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
    </Credentials>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/worker/s</Arn><AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata>
</AssumeRoleResponse>`

func TestClientsAssumeRole(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, false)
	var stsBody string
	srv.handle = func(r *http.Request, body string) (int, string) {
		if r.Header.Get("X-Amz-Target") == "" { // STS speaks the query protocol
			stsBody = body
			return 200, assumeRoleResponse
		}
		return 200, `{"taskArns": []}`
	}
	f := awsclient.NewFactory(awsclient.FactoryOptions{LoadOptions: awsclienttest.Isolated(t), BaseEndpoint: srv.URL})
	block := awsclienttest.MustObject(t, `{"aws_access_key_id": "AKIDBASE", "aws_secret_access_key": "base", "region_name": "us-east-1",
		"assume_role_arn": "arn:aws:iam::123456789012:role/worker", "assume_role_kwargs": {"ExternalId": "ext-1", "DurationSeconds": 900}}`)
	creds, err := awscreds.CredentialsFromBlock(block)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.For(context.Background(), creds)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ECS.ListTasks(context.Background(), &ecs.ListTasksInput{}); err != nil {
		t.Fatal(err)
	}
	form, _ := url.ParseQuery(stsBody)
	if form.Get("Action") != "AssumeRole" || form.Get("RoleArn") != "arn:aws:iam::123456789012:role/worker" ||
		form.Get("ExternalId") != "ext-1" || form.Get("DurationSeconds") != "900" ||
		!strings.HasPrefix(form.Get("RoleSessionName"), "ecsworker-") || len(form.Get("RoleSessionName")) != len("ecsworker-")+8 {
		t.Errorf("AssumeRole request %v", form)
	}
	req, _ := srv.last()
	if auth := req.Header.Get("Authorization"); !strings.Contains(auth, "Credential=ASIAASSUMED/") {
		t.Errorf("ECS call not signed with the assumed role: %s", auth)
	}
	if tok := req.Header.Get("X-Amz-Security-Token"); tok != "assumed-token" {
		t.Errorf("session token %q", tok)
	}
}

func TestClientsTLSSettings(t *testing.T) {
	t.Parallel()
	srv := newRecorder(t, true)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	_ = os.WriteFile(notPEM, []byte("hello"), 0o600)
	tests := map[string]struct {
		params  string
		wantErr string // from For, or "call" when the call must fail
	}{
		"verify on, unknown CA": {params: `{"verify": true}`, wantErr: "call"},
		"verify off":            {params: `{"verify": false}`},
		"CA bundle as verify":   {params: `{"verify": "` + caFile + `"}`},
		"verify_cert_path":      {params: `{"verify_cert_path": "` + caFile + `"}`},
		"missing CA file":       {params: `{"verify_cert_path": "/nonexistent/ca.pem"}`, wantErr: "cannot read the CA bundle"},
		"not a PEM file":        {params: `{"verify_cert_path": "` + notPEM + `"}`, wantErr: "holds no PEM certificate"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			creds, err := awscreds.CredentialsFromBlock(awsclienttest.MustObject(t, `{"aws_access_key_id": "AKID", "aws_secret_access_key": "s", "region_name": "us-east-1",
				"aws_client_parameters": `+tc.params+`}`))
			if err != nil {
				t.Fatal(err)
			}
			f := awsclient.NewFactory(awsclient.FactoryOptions{LoadOptions: awsclienttest.Isolated(t), BaseEndpoint: srv.URL, MaxAttempts: 1})
			c, err := f.For(context.Background(), creds)
			if tc.wantErr != "" && tc.wantErr != "call" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("For: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ECS.ListTasks(context.Background(), &ecs.ListTasksInput{})
			if (err != nil) != (tc.wantErr == "call") {
				t.Errorf("call error %v", err)
			}
		})
	}
}

func TestClientRetries(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		block     string
		factory   int
		code, msg string
		want      int // requests made
	}{
		"factory default attempts":                      {code: "ThrottlingException", msg: "Rate exceeded", want: 10},
		"block max_attempts counts retries":             {block: `"config": {"retries": {"max_attempts": 2, "mode": "standard"}}`, code: "ThrottlingException", msg: "Rate exceeded", want: 3},
		"ECS's concurrent-revision throttle is retried": {factory: 4, code: "ClientException", msg: "Too many concurrent attempts to create a new revision of the specified family.", want: 4},
		"client errors are not retried":                 {code: "ClientException", msg: "Container.image should not be null or empty.", want: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newRecorder(t, false)
			srv.handle = func(*http.Request, string) (int, string) {
				return 400, `{"__type": "` + tc.code + `", "message": "` + tc.msg + `"}`
			}
			params := `{}`
			if tc.block != "" {
				params = `{` + tc.block + `}`
			}
			creds, err := awscreds.CredentialsFromBlock(awsclienttest.MustObject(t, `{"aws_access_key_id": "AKID", "aws_secret_access_key": "s", "region_name": "us-east-1", "aws_client_parameters": `+params+`}`))
			if err != nil {
				t.Fatal(err)
			}
			f := awsclient.NewFactory(awsclient.FactoryOptions{LoadOptions: awsclienttest.Isolated(t), BaseEndpoint: srv.URL, MaxAttempts: tc.factory, Backoff: awsclienttest.NoDelay, RetryMode: "standard",
				Budget: awsclient.NewBudget(awsclient.BudgetConfig{"default": {Rate: 1e6, Burst: 1000}})})
			c, err := f.For(context.Background(), creds)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.ECS.ListTasks(context.Background(), &ecs.ListTasksInput{})
			if err == nil {
				t.Fatal("no error")
			}
			if srv.count() != tc.want {
				t.Errorf("%d requests, want %d", srv.count(), tc.want)
			}
		})
	}
}

// TestClientFactoryConfigErrors sets environment variables; not parallel.
func TestClientFactoryConfigErrors(t *testing.T) {
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	f := awsclient.NewFactory(awsclient.FactoryOptions{LoadOptions: awsclienttest.Isolated(t)})
	_, err := f.For(context.Background(), awscreds.Credentials{Profile: "nope", Region: "us-east-1"})
	if err == nil || !strings.Contains(err.Error(), `profile_name: the profile "nope" is not in the shared AWS config files`) {
		t.Errorf("missing profile: %v", err)
	}
	_, err = f.For(context.Background(), awscreds.Credentials{AccessKeyID: "A", SecretAccessKey: "B"})
	if err == nil || !strings.Contains(err.Error(), "set region_name in the aws_credentials block") {
		t.Errorf("no region: %v", err)
	}
}
