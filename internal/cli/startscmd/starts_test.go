package startscmd_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecsworker/ecsworker/internal/cli/clitest"
	"github.com/ecsworker/ecsworker/internal/cli/startscmd"
	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
	goldenfile "github.com/ecsworker/ecsworker/internal/golden"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// clock is the Prefect test server's and the command's time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

type env struct {
	t       *testing.T
	prefect *prefectfake.Server
	clk     *clock
	deps    map[string]string // name: id
}

// newEnv is a pool "p" with two deployments of flow "etl": nightly, whose
// image is image (job variables), and hourly, which runs the pool
// template's default image.
func newEnv(t *testing.T, image string) *env {
	clk := &clock{t: t0}
	s := clitest.PrefectServer(t, prefectfake.Options{Now: clk.Now, Seed: 15})
	t.Setenv("PREFECT_PROFILE", "")
	t.Setenv("ECSWORKER_DEFAULT_IMAGE", "")
	startscmd.SetNow(t, clk.Now)
	s.CreateWorkPool("p", "ecs", clitest.DefaultTemplateMap(t))
	s.CreateWorkPool("other", "ecs", nil)
	flow := s.CreateFlow("etl")["id"].(string)
	e := &env{t: t, prefect: s, clk: clk, deps: map[string]string{}}
	e.deps["nightly"] = s.CreateDeployment(flow, "nightly", "p", "", map[string]any{"image": image, "env": map[string]any{"EXTRA_PIP_PACKAGES": "pandas"}})["id"].(string)
	e.deps["hourly"] = s.CreateDeployment(flow, "hourly", "p", "", nil)["id"].(string)
	e.deps["elsewhere"] = s.CreateDeployment(flow, "elsewhere", "other", "", nil)["id"].(string)
	return e
}

// run creates a run of dep scheduled at `scheduled` seconds from t0, with
// labels (nil: none), and puts it in Running at `running` seconds (< 0:
// never).
func (e *env) run(dep string, scheduled float64, labels map[string]any, running float64) string {
	e.t.Helper()
	id := e.prefect.CreateFlowRun(e.deps[dep], nil, t0.Add(sec(scheduled)))["id"].(string)
	if labels != nil {
		body, _ := json.Marshal(labels)
		req, _ := http.NewRequest(http.MethodPatch, e.prefect.URL()+"/flow_runs/"+id+"/labels", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			e.t.Fatalf("PATCH labels: %v %v", resp, err)
		}
		_ = resp.Body.Close()
	}
	if running >= 0 {
		prev := e.clk.Now()
		e.clk.Set(t0.Add(sec(running)))
		e.prefect.SetFlowRunState(id, "RUNNING", "")
		e.clk.Set(prev)
	}
	return id
}

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// breakdown is a full record: the worker's labels for a run.
func breakdown(q, prov, pull, cont, flow float64, capacity string) map[string]any {
	return map[string]any{
		"ecsworker.start.queueing-s": q, "ecsworker.start.provisioning-s": prov, "ecsworker.start.image-pull-s": pull,
		"ecsworker.start.container-start-s": cont, "ecsworker.start.flow-start-s": flow, "ecsworker.capacity": capacity,
	}
}

// seed writes a day of runs: nightly pulls a large image (its pull
// dominates), hourly starts fast; plus runs the summary must leave out
// or report apart.
func (e *env) seed() {
	for i := range 10 {
		e.run("nightly", -3600*float64(i+1), breakdown(1.2, 9+float64(i%3), 50+float64(i), 7, 14, "FARGATE"), -1)
	}
	// A record without the flow-start label: computed from start_time
	// (Prefect's) minus task-started-at (t0 + 60 s): 22 s.
	e.run("nightly", -30, map[string]any{"ecsworker.start.image-pull-s": 61.0, "ecsworker.capacity": "FARGATE_SPOT",
		"ecsworker.start.task-started-at": t0.Add(60 * time.Second).Format(time.RFC3339Nano)}, 82)
	e.run("nightly", -60, nil, 10)                                                              // an older worker's run
	e.run("nightly", 120, nil, -1)                                                              // not started yet
	e.run("nightly", -90, map[string]any{"ecsworker.start.image-pull-s": "about a minute"}, 30) // unreadable
	for i := range 4 {
		e.run("hourly", -600*float64(i+1), breakdown(0.4, 6, 3, 1, 4, "FARGATE"), -1)
	}
	e.run("hourly", -25*3600, breakdown(100, 100, 100, 100, 100, "FARGATE"), -1) // before --since
	e.run("elsewhere", -60, breakdown(1, 1, 1, 1, 1, "FARGATE"), -1)             // another pool
}

func TestStartsSummary(t *testing.T) {
	a := clitest.AWSServer(t)
	image := a.PutImage("etl", "v3", 812_400_000)
	e := newEnv(t, image)
	e.seed()

	r := clitest.Run(t, "", "starts", "--pool", "p")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	clitest.MustContain(t, "stdout", r.Stdout,
		`Work pool "p": 18 flow runs expected to start since 2026-12-06 12:00 UTC (--since 24h).`,
		"etl/nightly: 14 runs, 11 with a start record (capacity: FARGATE 10, FARGATE_SPOT 1)",
		"  PHASE            RUNS  P50    P95\n  queueing         10    1.2 s  1.2 s\n  provisioning     10    10 s   11 s\n  image pull       11    55 s   61 s\n  container start  10    7 s    7 s\n  flow start       11    14 s   22 s\n",
		"  without a record: 1 not started, 1 started without one",
		"  unreadable record: run ", "flow run label ecsworker.start.image-pull-s is about a minute, not a number of seconds",
		"  image: "+image+": 812.4 MB in ECR (compressed)",
		"  advice: the image pull takes 55 s of a typical 87 s start (p50, 63 %): use a smaller image", "it is 812.4 MB in ECR",
		"etl/hourly: 4 runs, 4 with a start record (capacity: FARGATE 4)",
		"  image: prefecthq/prefect:3-latest: not checked: not in a private ECR registry",
		"note: runs without a start record were started by a worker that does not record starts",
	)
	if strings.Count(r.Stdout, "advice:") != 1 {
		t.Errorf("hourly starts in 14 s and needs no advice:\n%s", r.Stdout)
	}
	if strings.Contains(r.Stdout, "elsewhere") || strings.Contains(r.Stdout, "100 s") {
		t.Errorf("a run of another pool or before --since was counted:\n%s", r.Stdout)
	}
	if r.Stderr != "" {
		t.Errorf("stderr: %s", r.Stderr)
	}

	// One deployment, a week: the run of 25 hours ago is in.
	r = clitest.Run(t, "", "starts", "--pool", "p", "--deployment", "etl/hourly", "--since", "7d")
	clitest.MustContain(t, "stdout", r.Stdout, `Work pool "p": 5 flow runs expected to start since 2026-11-30 12:00 UTC (--since 7d).`,
		"etl/hourly: 5 runs, 5 with a start record")
	if strings.Contains(r.Stdout, "nightly") {
		t.Errorf("--deployment etl/hourly shows nightly:\n%s", r.Stdout)
	}
}

func TestStartsJSON(t *testing.T) {
	a := clitest.AWSServer(t)
	e := newEnv(t, a.PutImage("etl", "v3", 812_400_000))
	e.seed()
	r := clitest.Run(t, "", "starts", "--pool", "p", "--json")
	if r.Code != 0 {
		t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	goldenfile.Check(t, "./internal/cli/startscmd", "starts.json", []byte(r.Stdout))
}

func TestStartsImages(t *testing.T) {
	const deny = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},
		{"Effect":"Deny","Action":"ecr:DescribeImages","Resource":"*"}]}`
	tests := map[string]struct {
		setup func(t *testing.T) string // the image of nightly
		wants []string
		not   []string
	}{
		"shown": {
			setup: func(t *testing.T) string { return clitest.AWSServer(t).PutImage("etl", "v3", 41_900_000) },
			wants: []string{"etl:v3: 41.9 MB in ECR (compressed)"},
			not:   []string{"note: ECR image sizes were skipped"},
		},
		"refused": {
			setup: func(t *testing.T) string {
				a := clitest.AWSServer(t)
				if err := a.SetIdentityPolicy("", deny); err != nil {
					t.Fatal(err)
				}
				return a.PutImage("etl", "v3", 41_900_000)
			},
			wants: []string{"etl:v3: not checked (ecr:DescribeImages refused)", "image pull  "},
		},
		"missing tag": {
			setup: func(t *testing.T) string {
				a := clitest.AWSServer(t)
				return strings.TrimSuffix(a.PutImage("etl", "v3", 41_900_000), "v3") + "v4"
			},
			wants: []string{"etl:v4: not in ECR: repository etl has no image with tag v4, so tasks cannot pull it"},
		},
		"outside ECR": {
			setup: func(t *testing.T) string { clitest.AWSServer(t); return "ghcr.io/acme/etl:3" },
			wants: []string{"image: ghcr.io/acme/etl:3: not checked: not in a private ECR registry", "rather than ghcr.io"},
		},
		"no AWS credentials": {
			setup: func(t *testing.T) string {
				t.Setenv("AWS_ACCESS_KEY_ID", "")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "")
				t.Setenv("AWS_SESSION_TOKEN", "")
				t.Setenv("AWS_PROFILE", "")
				t.Setenv("AWS_REGION", "")
				t.Setenv("AWS_DEFAULT_REGION", "")
				t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
				t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
				t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
				t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "")
				t.Setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "")
				t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "")
				return "123456789012.dkr.ecr.us-east-1.amazonaws.com/etl:v3"
			},
			wants: []string{"  image pull       11    55 s   61 s",
				"etl:v3: not checked: no AWS credentials (configure them, or pass --aws-profile, to see ECR image sizes)",
				"note: ECR image sizes were skipped: no AWS credentials"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, tc.setup(t))
			e.seed()
			r := clitest.Run(t, "", "starts", "--pool", "p")
			if r.Code != 0 {
				t.Fatalf("exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
			}
			clitest.MustContain(t, "stdout", r.Stdout, tc.wants...)
			for _, n := range tc.not {
				if strings.Contains(r.Stdout, n) {
					t.Errorf("stdout has %q:\n%s", n, r.Stdout)
				}
			}
		})
	}
}

func TestStartsErrors(t *testing.T) {
	tests := map[string]struct {
		args   []string
		code   int
		stderr []string
	}{
		"no pool":        {args: []string{}, code: 2, stderr: []string{"--pool is required"}},
		"unknown pool":   {args: []string{"--pool", "nope"}, code: 1, stderr: []string{`work pool "nope" not found`}},
		"bad since":      {args: []string{"--pool", "p", "--since", "yesterday"}, code: 2, stderr: []string{`--since "yesterday": not a duration; give a duration such as 90m, 24h or 7d (Go durations, plus d for days)`}},
		"bad days":       {args: []string{"--pool", "p", "--since", "1.5d"}, code: 2, stderr: []string{`--since "1.5d": not a whole number of days`}},
		"negative since": {args: []string{"--pool", "p", "--since", "-2h"}, code: 2, stderr: []string{`--since "-2h": it must be positive`}},
		"unknown deployment, near names": {args: []string{"--pool", "p", "--deployment", "etl/nighty"}, code: 1,
			stderr: []string{`deployment "etl/nighty" not found in work pool "p"; near names: etl/nightly, etl/hourly`}},
		"deployment of another pool": {args: []string{"--pool", "p", "--deployment", "etl/elsewhere"}, code: 2,
			stderr: []string{`--deployment "etl/elsewhere": it runs in work pool "other", not "p"; give --pool other`}},
		"deployment not a name": {args: []string{"--pool", "p", "--deployment", "nightly"}, code: 2,
			stderr: []string{`--deployment "nightly": give FLOW_NAME/DEPLOYMENT_NAME or the deployment's id`}},
		"AWS profile as --profile": {args: []string{"--pool", "p", "--profile", "prod"}, code: 2, stderr: []string{"prod"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			newEnv(t, "prefecthq/prefect:3-latest")
			r := clitest.Run(t, "", append([]string{"starts"}, tc.args...)...)
			if r.Code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", r.Code, tc.code, r.Stdout, r.Stderr)
			}
			clitest.MustContain(t, "stderr", r.Stderr, tc.stderr...)
		})
	}
}

func TestParseSince(t *testing.T) {
	tests := map[string]time.Duration{"24h": 24 * time.Hour, "90m": 90 * time.Minute, "1h30m": 90 * time.Minute, "7d": 7 * 24 * time.Hour, "1d": 24 * time.Hour}
	for in, want := range tests {
		if got, err := startscmd.ParseSince(in); err != nil || got != want {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "7days", "0", "0d", "-1d", "3651d", "1w"} {
		if _, err := startscmd.ParseSince(in); err == nil {
			t.Errorf("ParseSince(%q) accepted", in)
		}
	}
}

func TestStartsNoRuns(t *testing.T) {
	newEnv(t, "prefecthq/prefect:3-latest")
	r := clitest.Run(t, "", "starts", "--pool", "p")
	if r.Code != 0 || r.Stdout != "Work pool \"p\": no flow runs expected to start since 2026-12-06 12:00 UTC (--since 24h).\n" {
		t.Errorf("exit %d\n%q%s", r.Code, r.Stdout, r.Stderr)
	}
}
