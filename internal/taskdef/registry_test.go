package taskdef_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/ecsshape"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/taskdef"
)

func TestEnsureReusesAfterRestart(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	td := fargateTD("prefect_pool_dep2", "img:1")
	first := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{})
	arn, registered, err := first.Ensure(context.Background(), td, taskdef.EnsureOptions{})
	if err != nil || !registered {
		t.Fatalf("first Ensure: %v, registered %v", err, registered)
	}
	// Other revisions registered since (another deployment version, by hand)
	// do not hide ours.
	for i := range 3 {
		if _, _, err := first.Ensure(context.Background(), fargateTD("prefect_pool_dep2", fmt.Sprintf("other:%d", i)), taskdef.EnsureOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	restarted := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{})
	again, registered, err := restarted.Ensure(context.Background(), td, taskdef.EnsureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again != arn || registered {
		t.Errorf("after a restart got %s (registered %v), want the existing %s", again, registered, arn)
	}
	if n := w.Calls("ecs:RegisterTaskDefinition"); n != 4 {
		t.Errorf("%d registrations, want 4", n)
	}
	// The registered revision carries the hash tag.
	for _, v := range w.Srv.TaskDefinitions() {
		if v.Arn == arn && v.Tags[taskdef.HashTag] != taskdef.Hash(td) {
			t.Errorf("tags %v", v.Tags)
		}
	}
}

func TestConcurrentEnsureRegistersOnce(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	tds := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{})
	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	arns := map[string]int{}
	registered := 0
	for range n {
		wg.Go(func() {
			arn, reg, err := tds.Ensure(context.Background(), fargateTD("prefect_pool_dep3", "img:1"), taskdef.EnsureOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			arns[arn]++
			if reg {
				registered++
			}
		})
	}
	wg.Wait()
	if c := w.Calls("ecs:RegisterTaskDefinition"); c != 1 || len(arns) != 1 || registered != 1 {
		t.Errorf("%d registrations, ARNs %v, %d callers told they registered; want 1, one ARN, 1", c, arns, registered)
	}
}

// registerUntagged registers td as the Python worker would: no hash tag.
func registerUntagged(t *testing.T, api awsclient.ECSAPI, td *jsonv.Object) string {
	t.Helper()
	in := &ecs.RegisterTaskDefinitionInput{}
	if p := ecsshape.Decode(td, in); len(p) > 0 {
		t.Fatal(p)
	}
	out, err := api.RegisterTaskDefinition(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return *out.TaskDefinition.TaskDefinitionArn
}

func TestMatchLatestRevision(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		match       bool
		latestImage string // of the untagged latest revision
		wantReuse   bool
	}{
		"identical untagged latest is reused":            {match: true, latestImage: "img:1", wantReuse: true},
		"without the option it is reused too":            {match: false, latestImage: "img:1", wantReuse: true},
		"a different latest revision is not":             {match: true, latestImage: "img:2"},
		"a different latest revision is not, by default": {match: false, latestImage: "img:2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := awsclienttest.NewWorld(t, awsclienttest.Options{})
			python := registerUntagged(t, w.Clients.ECS, fargateTD("prefect_pool_py", tc.latestImage))
			tds := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{})
			arn, registered, err := tds.Ensure(context.Background(), fargateTD("prefect_pool_py", "img:1"), taskdef.EnsureOptions{MatchLatestRevision: tc.match})
			if err != nil {
				t.Fatal(err)
			}
			if reused := arn == python; reused != tc.wantReuse || registered == tc.wantReuse {
				t.Errorf("got %s (registered %v); the untagged revision is %s; want reuse %v", arn, registered, python, tc.wantReuse)
			}
		})
	}
}

func TestRegistrationThrottlingIsRetried(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{Retries: 1})
	w.Srv.InjectFault(awsfake.Fault{Service: "ecs", Action: "RegisterTaskDefinition", Code: "ClientException", Message: "Too many concurrent attempts to create a new revision of the specified family.", Count: 2})
	rec := &awsclienttest.Sleeps{}
	tds := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{Sleep: w.Sleep(rec)})
	arn, registered, err := tds.Ensure(context.Background(), fargateTD("prefect_pool_thr", "img"), taskdef.EnsureOptions{})
	if err != nil || !registered || arn == "" {
		t.Fatalf("Ensure: %q %v %v", arn, registered, err)
	}
	if got := rec.All(); len(got) != 2 || got[0] < 500*1e6 || got[0] > 1e9 || got[1] < 1e9 || got[1] > 2e9 {
		t.Errorf("backoff sleeps %v, want about 1s then 2s (with jitter)", got)
	}
}

func TestRegistrationPermanentErrorFailsAtOnce(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	rec := &awsclienttest.Sleeps{}
	tds := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{Sleep: w.Sleep(rec)})
	td := fargateTD("prefect_pool_bad", "img")
	td.Set("cpu", "3") // not a Fargate size
	_, _, err := tds.Ensure(context.Background(), td, taskdef.EnsureOptions{})
	var le *awserr.LaunchError
	if !errors.As(err, &le) || le.Kind != awserr.KindPermanent || !strings.Contains(le.Error(), "task_definition template") {
		t.Fatalf("got %v", err)
	}
	if n := w.Calls("ecs:RegisterTaskDefinition"); n != 1 || len(rec.All()) != 0 {
		t.Errorf("%d registrations and %d sleeps, want 1 and 0", n, len(rec.All()))
	}
}

func TestDescribeTaskDefinition(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	tds := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{})
	td := fargateTD("prefect_pool_desc", "img")
	arn, _, err := tds.Ensure(context.Background(), td, taskdef.EnsureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tds.Describe(context.Background(), arn)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetString("taskDefinitionArn") != arn || got.GetString("status") != "ACTIVE" || !taskdef.Same(got, td) {
		t.Errorf("Describe = %s", got)
	}
	_, err = tds.Describe(context.Background(), "arn:aws:ecs:us-east-1:123456789012:task-definition/nope:1")
	if !awserr.IsNotFound(err) || !strings.Contains(fmt.Sprint(err), "task_definition_arn") {
		t.Errorf("unknown ARN: %v", err)
	}
}

func BenchmarkEnsureCacheHit(b *testing.B) {
	w := awsclienttest.NewWorld(b, awsclienttest.Options{})
	tds := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{})
	td := awsclienttest.MustObject(b, preparedFargate)
	if _, _, err := tds.Ensure(context.Background(), td, taskdef.EnsureOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, registered, err := tds.Ensure(context.Background(), td, taskdef.EnsureOptions{}); err != nil || registered {
			b.Fatal(err)
		}
	}
}

// TestEnsureWithFewerPermissions covers IAM policies written for the
// Python worker, which may lack ecs:ListTaskDefinitions or ecs:TagResource.
func TestEnsureWithFewerPermissions(t *testing.T) {
	t.Parallel()
	const family = "prefect_pool_iam"
	tests := map[string]struct {
		denied      string // action refused with AccessDeniedException
		message     string
		pythonFirst bool // an identical untagged revision exists
		wantReuse   bool
		wantTagged  bool
	}{
		"no ListTaskDefinitions: the latest revision is still matched": {
			denied: "ListTaskDefinitions", message: "User is not authorized to perform: ecs:ListTaskDefinitions",
			pythonFirst: true, wantReuse: true,
		},
		"no ListTaskDefinitions and nothing to reuse": {
			denied: "ListTaskDefinitions", message: "User is not authorized to perform: ecs:ListTaskDefinitions",
			wantTagged: true,
		},
		"no TagResource: registered without the tag": {
			denied: "RegisterTaskDefinition", message: "User: arn:aws:sts::123456789012:assumed-role/w/s is not authorized to perform: ecs:TagResource on resource: arn:aws:ecs:us-east-1:123456789012:task-definition/" + family + ":1",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := awsclienttest.NewWorld(t, awsclienttest.Options{})
			var python string
			if tc.pythonFirst {
				python = registerUntagged(t, w.Clients.ECS, fargateTD(family, "img"))
			}
			w.Srv.InjectFault(awsfake.Fault{Service: "ecs", Action: tc.denied, Code: "AccessDeniedException", Message: tc.message, Count: 1})
			tds := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{})
			arn, registered, err := tds.Ensure(context.Background(), fargateTD(family, "img"), taskdef.EnsureOptions{MatchLatestRevision: true})
			if err != nil {
				t.Fatal(err)
			}
			if (arn == python) != tc.wantReuse || registered == tc.wantReuse {
				t.Errorf("got %s (registered %v), python's %q, want reuse %v", arn, registered, python, tc.wantReuse)
			}
			for _, v := range w.Srv.TaskDefinitions() {
				if v.Arn == arn && (v.Tags[taskdef.HashTag] != "") != tc.wantTagged {
					t.Errorf("tags %v, want tagged %v", v.Tags, tc.wantTagged)
				}
			}
		})
	}
}

func TestEnsureCacheExpires(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	clock := &awsclienttest.Clock{}
	tds := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{Clock: clock.Now, CacheTTL: time.Hour})
	td := fargateTD("prefect_pool_ttl", "img")
	first, _, err := tds.Ensure(context.Background(), td, taskdef.EnsureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(59 * time.Minute)
	if _, _, err := tds.Ensure(context.Background(), td, taskdef.EnsureOptions{}); err != nil || w.Calls("ecs:DescribeTaskDefinition") != 1 {
		t.Fatalf("within the TTL: %v, %d describes", err, w.Calls("ecs:DescribeTaskDefinition"))
	}
	clock.Advance(2 * time.Minute)
	again, registered, err := tds.Ensure(context.Background(), td, taskdef.EnsureOptions{})
	if err != nil || again != first || registered || w.Calls("ecs:DescribeTaskDefinition") != 2 || w.Calls("ecs:RegisterTaskDefinition") != 1 {
		t.Errorf("after the TTL: %s %v %v; %d describes, %d registrations", again, registered, err, w.Calls("ecs:DescribeTaskDefinition"), w.Calls("ecs:RegisterTaskDefinition"))
	}
}

// A worker without ecs:ListTaskDefinitions asks for it once, then finds
// revisions through the family's latest one alone, and asks again only
// after the recheck period.
func TestRefusedListingIsAskedOncePerPeriod(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	w.Srv.InjectFault(awsfake.Fault{Service: "ecs", Action: "ListTaskDefinitions", Code: "AccessDeniedException", Message: "User: arn:aws:iam::123456789012:user/u is not authorized to perform: ecs:ListTaskDefinitions on resource: *", Count: 0})
	clock := &awsclienttest.Clock{}
	var logged strings.Builder
	perms := awserr.NewPermissions(awserr.PermissionOptions{Now: clock.Now, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	tds := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{Permissions: perms, Clock: clock.Now})
	// Each family has a revision that is not the wanted one, so that the
	// lookup would list older revisions if it could.
	for i := range 4 {
		family := fmt.Sprintf("prefect_pool_f%d", i)
		registerUntagged(t, w.Clients.ECS, fargateTD(family, "old"))
		if _, registered, err := tds.Ensure(context.Background(), fargateTD(family, "new"), taskdef.EnsureOptions{}); err != nil || !registered {
			t.Fatalf("%s: registered %v, %v", family, registered, err)
		}
	}
	if n := w.Calls("ecs:ListTaskDefinitions"); n != 1 {
		t.Errorf("%d ListTaskDefinitions calls for 4 families, want 1", n)
	}
	if n := strings.Count(logged.String(), "ecs:ListTaskDefinitions"); n < 1 || strings.Count(logged.String(), "level=WARN") != 1 {
		t.Errorf("want one warning naming the action, got:\n%s", logged.String())
	}
	if !strings.Contains(logged.String(), "latest revision is reused") {
		t.Errorf("the warning does not say what is lost:\n%s", logged.String())
	}
	clock.Advance(awserr.DefaultPermissionRecheck)
	registerUntagged(t, w.Clients.ECS, fargateTD("prefect_pool_f9", "old"))
	if _, _, err := tds.Ensure(context.Background(), fargateTD("prefect_pool_f9", "new"), taskdef.EnsureOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := w.Calls("ecs:ListTaskDefinitions"); n != 2 {
		t.Errorf("%d ListTaskDefinitions calls after the recheck period, want 2", n)
	}
}

// An endpoint that does not implement ListTaskDefinitions is not an
// outage: the lookup does without it and the registration goes through.
func TestUnknownListingOperationIsDoneWithout(t *testing.T) {
	t.Parallel()
	w := awsclienttest.NewWorld(t, awsclienttest.Options{})
	w.Srv.InjectFault(awsfake.Fault{Service: "ecs", Action: "ListTaskDefinitions", Code: "UnknownOperationException", Message: "", Count: 0})
	registerUntagged(t, w.Clients.ECS, fargateTD("prefect_pool_u", "old"))
	tds := taskdef.NewRegistry(w.Clients.ECS, taskdef.Options{Permissions: awserr.NewPermissions(awserr.PermissionOptions{Logger: slog.New(slog.DiscardHandler)})})
	if _, registered, err := tds.Ensure(context.Background(), fargateTD("prefect_pool_u", "new"), taskdef.EnsureOptions{}); err != nil || !registered {
		t.Fatalf("registered %v, %v", registered, err)
	}
}

// fargateTD is a prepared Fargate task definition of family.
func fargateTD(family, image string) *jsonv.Object {
	return jsonv.ObjectOf(
		"containerDefinitions", []any{jsonv.ObjectOf("name", "prefect", "image", image)},
		"family", family, "cpu", "1024", "memory", "2048",
		"requiresCompatibilities", []any{"FARGATE"}, "networkMode", "awsvpc",
	)
}
