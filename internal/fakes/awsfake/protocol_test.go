package awsfake_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

func TestUnsignedRequestsAreRefused(t *testing.T) {
	t.Parallel()
	s := awsfake.NewTestServer(t, awsfake.Options{})
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String(s.URL())}
	ctx := t.Context()
	tests := []struct {
		service string
		call    func() error
		code    string
	}{
		{"ecs", func() error { _, err := ecs.NewFromConfig(cfg).ListClusters(ctx, &ecs.ListClustersInput{}); return err }, "MissingAuthenticationTokenException"},
		{"logs", func() error {
			_, err := cloudwatchlogs.NewFromConfig(cfg).DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{})
			return err
		}, "MissingAuthenticationTokenException"},
		{"sqs", func() error { _, err := sqs.NewFromConfig(cfg).ListQueues(ctx, &sqs.ListQueuesInput{}); return err }, "MissingAuthenticationToken"},
		{"ec2", func() error { _, err := ec2.NewFromConfig(cfg).DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); return err }, "MissingAuthenticationToken"},
		{"sts", func() error {
			_, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			return err
		}, "MissingAuthenticationToken"},
	}
	for _, tt := range tests {
		t.Run(tt.service, func(t *testing.T) {
			t.Parallel()
			if err := tt.call(); apiCode(err) != tt.code || !strings.Contains(err.Error(), "StatusCode: 403") {
				t.Errorf("got %v, want %s", err, tt.code)
			}
		})
	}
}

// post sends a raw signed-looking awsJson request.
func post(t *testing.T, s *awsfake.Server, target, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.URL()+"/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20000101/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: the answer is not JSON (%v): %s", target, err, raw)
	}
	return resp.StatusCode, out
}

func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	s := awsfake.NewTestServer(t, awsfake.Options{})
	const ecsTarget = "AmazonEC2ContainerServiceV20141113."
	tests := []struct {
		name, target, body, code string
	}{
		{"unknown member", ecsTarget + "RegisterTaskDefinition", `{"family":"f","containerDefinitions":[{"name":"a","image":"b","memroy":512}]}`, "SerializationException"},
		{"string for a number", ecsTarget + "RunTask", `{"taskDefinition":"f","count":"1"}`, "SerializationException"},
		{"object for a string", ecsTarget + "DescribeTasks", `{"cluster":{},"tasks":["x"]}`, "SerializationException"},
		{"not JSON", ecsTarget + "ListClusters", `{"maxResults":`, "SerializationException"},
		{"unknown operation", ecsTarget + "CreateService", `{}`, "UnknownOperationException"},
		{"unknown service", "AWSGlue.GetJobs", `{}`, "UnknownOperationException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, body := post(t, s, tt.target, tt.body)
			if status != 400 || body["__type"] != tt.code || body["message"] == "" {
				t.Errorf("got %d %v, want 400 %s", status, body, tt.code)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newBubbleEnv(t, awsfake.Options{})
		e.cluster(t, "c")

		// Two server errors: the SDK's third attempt gets through.
		e.s.InjectFault(awsfake.Fault{Service: "ecs", Action: "ListClusters", Code: "ServerException", Count: 2})
		if _, err := e.ecs.ListClusters(e.ctx, &ecs.ListClustersInput{}); err != nil {
			t.Errorf("after two ServerExceptions: %v", err)
		}
		if n := e.s.Calls()["ecs:ListClusters"]; n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}

		// A fault with a status of its own, without retries.
		e.s.InjectFault(awsfake.Fault{Service: "ecs", Code: "AccessDeniedException", Status: 400, Message: "not yours", Count: 1})
		_, err := e.ecs.ListClusters(e.ctx, &ecs.ListClustersInput{})
		if apiCode(err) != "AccessDeniedException" || apiMessage(err) != "not yours" {
			t.Errorf("injected AccessDenied = %v", err)
		}

		// Delay and latency run on the clock.
		e.s.InjectFault(awsfake.Fault{Action: "DescribeClusters", Delay: 3 * time.Second, Count: 1})
		e.s.SetLatency(100 * time.Millisecond)
		start := time.Now()
		if _, err := e.ecs.DescribeClusters(e.ctx, &ecs.DescribeClustersInput{Clusters: []string{"c"}}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 3100*time.Millisecond {
			t.Errorf("delayed call took %v", d)
		}
		e.s.SetLatency(0)

		// A hung call lasts until the client gives up.
		e.s.InjectFault(awsfake.Fault{Service: "sqs", Hang: true})
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		defer cancel()
		start = time.Now()
		_, err = e.sqs.ListQueues(ctx, &sqs.ListQueuesInput{})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 5*time.Second {
			t.Errorf("hung call: %v after %v", err, time.Since(start))
		}
		e.s.ClearFaults()
		if _, err := e.sqs.ListQueues(e.ctx, &sqs.ListQueuesInput{}); err != nil {
			t.Errorf("after ClearFaults: %v", err)
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsfake.Options{DisableThrottling: true})
	e.cluster(t, "c")
	e.register(t, fargateTD("f"))
	url := e.s.RouteTaskEventsTo("events", "")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10 {
				out, err := e.ecs.RunTask(e.ctx, e.fargateRun("c", "f"))
				if err != nil {
					t.Error(err)
					return
				}
				arn := aws.ToString(out.Tasks[0].TaskArn)
				if _, err := e.ecs.DescribeTasks(e.ctx, &ecs.DescribeTasksInput{Cluster: aws.String("c"), Tasks: []string{arn}}); err != nil {
					t.Error(err)
				}
				e.s.AdvanceTask(arn)
				if _, err := e.ecs.StopTask(e.ctx, &ecs.StopTaskInput{Cluster: aws.String("c"), Task: aws.String(arn)}); err != nil {
					t.Error(err)
				}
				if _, err := e.sqs.ReceiveMessage(e.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10}); err != nil {
					t.Error(err)
				}
				_ = e.s.Tasks()
			}
		})
	}
	wg.Wait()
	if n := len(e.s.Tasks()); n != 80 {
		t.Errorf("%d tasks, want 80", n)
	}
}

func TestSeedMakesIDsReproducible(t *testing.T) {
	t.Parallel()
	launch := func(seed uint64) (vpc, task string) {
		synctest.Test(t, func(t *testing.T) {
			e := newBubbleEnv(t, awsfake.Options{Seed: seed})
			e.cluster(t, "c")
			e.register(t, fargateTD("f"))
			vpc, _, _ = e.s.DefaultNetwork()
			task = aws.ToString(e.run(t, e.fargateRun("c", "f")).Tasks[0].TaskArn)
		})
		return vpc, task
	}
	v1, t1 := launch(42)
	v2, t2 := launch(42)
	v3, t3 := launch(7)
	if v1 != v2 || t1 != t2 {
		t.Errorf("same seed: %s %s then %s %s", v1, t1, v2, t2)
	}
	if v1 == v3 || t1 == t3 {
		t.Errorf("different seeds gave the same IDs %s %s", v3, t3)
	}
}

func TestListen(t *testing.T) {
	t.Parallel()
	s := awsfake.New(awsfake.Options{})
	url, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	e := clientsFor(t, s, false)
	if url != s.URL() || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("URL %s, Listen %s", s.URL(), url)
	}
	if _, err := e.sts.GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{}); err != nil {
		t.Error(err)
	}
}
