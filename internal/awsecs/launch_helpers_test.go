package awsecs_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ecsworker/ecsworker/internal/awsecs"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/aws"
	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// noDelay is a retry backoff without delay, so that SDK retries in tests
// take no time.
var noDelay = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })

func noDelayRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = noDelay })
}

// world is the AWS test server and real SDK clients pointed at it.
type world struct {
	srv     *awsfake.Server
	clients *awsecs.Clients
	budget  *awsecs.Budget
	clock   *fakeClock // nil unless the world runs on a fake clock
}

type worldOptions struct {
	fake   awsfake.Options
	budget awsecs.BudgetConfig // nil: generous
	clock  bool                // run the fake on a clock that Sleep advances
	// inProcess serves the SDK's requests without a socket, as a
	// testing/synctest bubble needs.
	inProcess bool
	retries   int // SDK attempts; default 3
	timeouts  awsecs.CallTimeouts
	monitor   *awsecs.CallMonitor
	backoff   retry.BackoffDelayer // nil: no delay
}

func newWorld(t testing.TB, o worldOptions) *world {
	t.Helper()
	w := &world{}
	if o.clock {
		w.clock = &fakeClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
		o.fake.Now = w.clock.Now
	}
	var httpClient *http.Client
	if o.inProcess {
		w.srv = awsfake.New(o.fake)
		t.Cleanup(w.srv.Close)
		httpClient = w.srv.HTTPClient()
	} else {
		w.srv = awsfake.NewTestServer(t, o.fake)
	}
	if o.budget == nil {
		o.budget = awsecs.BudgetConfig{"default": {Rate: 1e6, Burst: 1e6}}
	}
	w.budget = awsecs.NewBudget(o.budget)
	if o.retries == 0 {
		o.retries = 3
	}
	if o.backoff == nil {
		o.backoff = noDelay
	}
	opts := awsecs.FactoryOptions{
		BaseEndpoint: w.srv.URL(), LoadOptions: isolated(t), Backoff: o.backoff, RetryMode: "standard",
		MaxAttempts: o.retries, Budget: w.budget, Timeouts: o.timeouts, Monitor: o.monitor,
	}
	if httpClient != nil {
		opts.HTTPClient = httpClient
	}
	f := awsecs.NewClientFactory(opts)
	c, err := f.For(context.Background(), staticCreds(w.srv.Region()))
	if err != nil {
		t.Fatal(err)
	}
	w.clients = c
	return w
}

// sleep is a LaunchOptions/TDOptions Sleep that takes no time: it records
// the delays and, on a fake clock, moves the clock.
func (w *world) sleep(rec *sleeps) func(context.Context, time.Duration) error {
	return func(ctx context.Context, d time.Duration) error {
		rec.add(d)
		if w.clock != nil {
			w.clock.Advance(d)
		}
		return ctx.Err()
	}
}

func (w *world) launcher(rec *sleeps, opts awsecs.LaunchOptions) *awsecs.Launcher {
	if rec == nil {
		rec = &sleeps{}
	}
	opts.Sleep = w.sleep(rec)
	if w.clock != nil {
		opts.Clock = w.clock.Now
	}
	tds := awsecs.NewTaskDefinitions(w.clients.ECS, awsecs.TDOptions{Sleep: opts.Sleep, Clock: opts.Clock})
	return awsecs.NewLauncher(w.clients, tds, w.budget, opts)
}

func (w *world) calls(action string) int { return w.srv.Calls()[action] }

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) add(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fargateTD is a prepared Fargate task definition of family.
func fargateTD(family, image string) *jsonv.Object {
	return jsonv.ObjectOf(
		"containerDefinitions", []any{jsonv.ObjectOf("name", "prefect", "image", image)},
		"family", family, "cpu", "1024", "memory", "2048",
		"requiresCompatibilities", []any{"FARGATE"}, "networkMode", "awsvpc",
	)
}

// fargatePlan is the plan ecsjob makes for a Fargate flow run of a
// deployment, with the subnets of the default VPC to infer.
func fargatePlan(family, cluster, flowRunID string) *ecsjob.Plan {
	rt := jsonv.ObjectOf(
		"launchType", "FARGATE",
		"overrides", jsonv.ObjectOf("containerOverrides", []any{jsonv.ObjectOf(
			"name", "prefect", "command", []any{"prefect", "flow-run", "execute"},
			"environment", []any{jsonv.ObjectOf("name", "PREFECT__FLOW_RUN_ID", "value", flowRunID)})}),
		"taskDefinition", ecsjob.MarkTaskDefinitionARN,
		"tags", []any{jsonv.ObjectOf("key", "prefect.io/flow-run-id", "value", flowRunID)},
		"networkConfiguration", jsonv.ObjectOf("awsvpcConfiguration", jsonv.ObjectOf(
			"subnets", []any{ecsjob.MarkSubnets}, "assignPublicIp", "ENABLED")),
	)
	if cluster != "" {
		rt.Set("cluster", cluster)
	}
	return &ecsjob.Plan{
		TaskDefinition: fargateTD(family, "prefecthq/prefect:3-latest"),
		RunTask:        rt,
		Launch:         ecsjob.LaunchFargate,
		ContainerName:  "prefect",
		Cluster:        cluster,
		Network:        &ecsjob.NetworkPlan{Infer: true, AssignPublicIP: "ENABLED"},
	}
}

func awsfakeFault(service, action, code, msg string, count int) awsfake.Fault {
	return awsfake.Fault{Service: service, Action: action, Code: code, Message: msg, Count: count}
}

// noVPCs is an EC2 API in a region without a default VPC.
type noVPCs struct{ awsecs.EC2API }

func (noVPCs) DescribeVpcs(context.Context, *ec2.DescribeVpcsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error) {
	return &ec2.DescribeVpcsOutput{}, nil
}
