// Package awsclienttest holds what the tests of the AWS packages
// (awsclient and the ECS domain built on it) share: the AWS test server
// with real SDK clients made by an awsclient.Factory, kept away from the
// machine's AWS configuration, and a clock tests move by hand. Only tests
// import it; it is not part of the binary.
package awsclienttest

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awscreds"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/fakes/fakenet"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// NoDelay is a retry backoff without delay, so that SDK retries in tests
// take no time.
var NoDelay = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })

// NoDelayRetryer is the SDK's standard retryer with NoDelay.
func NoDelayRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = NoDelay })
}

// Isolated keeps a factory away from the machine's ~/.aws files.
func Isolated(t testing.TB) []func(*config.LoadOptions) error {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return []func(*config.LoadOptions) error{
		config.WithSharedConfigFiles([]string{empty}),
		config.WithSharedCredentialsFiles([]string{empty}),
	}
}

// StaticCreds are static test keys in region.
func StaticCreds(region string) awscreds.Credentials {
	return awscreds.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret", Region: region}
}

// World is the AWS test server and real SDK clients pointed at it.
type World struct {
	Srv     *awsfake.Server
	Clients *awsclient.Clients
	Budget  *awsclient.Budget
	Clock   *Clock // nil unless the world runs on a hand-moved clock
}

// InProcess starts the AWS test server without a socket, as a
// testing/synctest bubble needs, and gives the SDK configuration whose
// clients reach it: static test keys in us-east-1, the SDK's own retries.
// Tests that need no Factory make their clients from it.
func InProcess(t testing.TB, o awsfake.Options) (*awsfake.Server, aws.Config) {
	t.Helper()
	s := awsfake.New(o)
	t.Cleanup(s.Close)
	return s, aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		BaseEndpoint: aws.String(s.URL()),
		HTTPClient:   s.HTTPClient(),
	}
}

// Options configure NewWorld.
type Options struct {
	Fake   awsfake.Options
	Budget awsclient.BudgetConfig // nil: generous
	Clock  bool                   // run the server on a Clock (see World.Sleep)
	// InProcess serves the SDK's requests without a socket, as a
	// testing/synctest bubble needs.
	InProcess bool
	Retries   int // SDK attempts; default 3
	Timeouts  awsclient.CallTimeouts
	Monitor   *awsclient.CallMonitor
	Backoff   retry.BackoffDelayer // nil: no delay
}

// NewWorld starts the AWS test server and makes the clients of static
// test keys in its region through a Factory.
func NewWorld(t testing.TB, o Options) *World {
	t.Helper()
	w := &World{}
	if o.Clock {
		w.Clock = NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
		o.Fake.Now = w.Clock.Now
	}
	var httpClient *http.Client
	if o.InProcess {
		w.Srv = awsfake.New(o.Fake)
		t.Cleanup(w.Srv.Close)
		httpClient = w.Srv.HTTPClient()
	} else {
		w.Srv = awsfake.NewTestServer(t, o.Fake)
	}
	if o.Budget == nil {
		o.Budget = awsclient.BudgetConfig{"default": {Rate: 1e6, Burst: 1e6}}
	}
	w.Budget = awsclient.NewBudget(o.Budget)
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.Backoff == nil {
		o.Backoff = NoDelay
	}
	opts := awsclient.FactoryOptions{
		BaseEndpoint: w.Srv.URL(), LoadOptions: Isolated(t), Backoff: o.Backoff, RetryMode: "standard",
		MaxAttempts: o.Retries, Budget: w.Budget, Timeouts: o.Timeouts, Monitor: o.Monitor,
	}
	if httpClient != nil {
		opts.HTTPClient = httpClient
	}
	c, err := awsclient.NewFactory(opts).For(context.Background(), StaticCreds(w.Srv.Region()))
	if err != nil {
		t.Fatal(err)
	}
	w.Clients = c
	return w
}

// Calls is how many calls of action ("ecs:RunTask") the server answered.
func (w *World) Calls(action string) int { return w.Srv.Calls()[action] }

// Sleep is a Sleep option (of the launcher, the task-definition registry)
// that takes no time: it records the delays in rec and, on a Clock, moves
// the clock.
func (w *World) Sleep(rec *Sleeps) func(context.Context, time.Duration) error {
	return func(ctx context.Context, d time.Duration) error {
		rec.add(d)
		if w.Clock != nil {
			w.Clock.Advance(d)
		}
		return ctx.Err()
	}
}

// AllowAllBut gives the test keys every action except those denied.
func (w *World) AllowAllBut(t testing.TB, denied ...string) {
	t.Helper()
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":["` + strings.Join(denied, `","`) + `"],"Resource":"*"}]}`
	if err := w.Srv.SetIdentityPolicy("", policy); err != nil {
		t.Fatal(err)
	}
}

// Sleeps records the delays a World's Sleep was asked for.
type Sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *Sleeps) add(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
}

// All returns the delays, in order.
func (s *Sleeps) All() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// Clock is a clock that only Advance and Sleep move.
type Clock = fakenet.Clock

// NewClock makes a clock that starts at t.
func NewClock(t time.Time) *Clock { return fakenet.NewClock(t) }

// MustObject decodes a JSON object written in a test.
func MustObject(t testing.TB, s string) *jsonv.Object {
	t.Helper()
	o, err := jsonv.DecodeObject([]byte(s))
	if err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return o
}
