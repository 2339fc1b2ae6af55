package taskdef_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/taskdef"
)

// preparedFargate is what ecsjob prepares for a Fargate deployment with
// CloudWatch logs, a secret and an environment file.
const preparedFargate = `{
  "containerDefinitions": [{
    "name": "prefect",
    "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:2024-05-01",
    "environment": [{"name": "TZ", "value": "UTC"}, {"name": "EXTRA_PIP_PACKAGES", "value": "s3fs"}],
    "secrets": [{"name": "PREFECT_API_KEY", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prefect-key"},
                {"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"}],
    "portMappings": [{"containerPort": 8080}],
    "logConfiguration": {"logDriver": "awslogs", "options": {
      "awslogs-create-group": "true", "awslogs-group": "prefect", "awslogs-region": "us-east-1",
      "awslogs-stream-prefix": "prefect-logs_ecs-pool_d1e2f3a4"}}
  }],
  "family": "prefect_ecs-pool_d1e2f3a4",
  "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
  "cpu": "1 vCPU",
  "memory": "2048",
  "requiresCompatibilities": ["FARGATE"],
  "networkMode": "awsvpc",
  "tags": [{"key": "team", "value": "data"}]
}`

// describedFargate is DescribeTaskDefinition's answer (include TAGS) for
// the revision ECS registered from preparedFargate, as the API returns it.
const describedFargate = `{
  "taskDefinition": {
    "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/prefect_ecs-pool_d1e2f3a4:7",
    "containerDefinitions": [{
      "name": "prefect",
      "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:2024-05-01",
      "cpu": 0,
      "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
      "essential": true,
      "environment": [{"name": "EXTRA_PIP_PACKAGES", "value": "s3fs"}, {"name": "TZ", "value": "UTC"}],
      "environmentFiles": [],
      "mountPoints": [],
      "volumesFrom": [],
      "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"},
                  {"name": "PREFECT_API_KEY", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:prefect-key"}],
      "logConfiguration": {"logDriver": "awslogs", "options": {
        "awslogs-create-group": "true", "awslogs-group": "prefect", "awslogs-region": "us-east-1",
        "awslogs-stream-prefix": "prefect-logs_ecs-pool_d1e2f3a4"}, "secretOptions": []},
      "systemControls": []
    }],
    "family": "prefect_ecs-pool_d1e2f3a4",
    "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
    "networkMode": "awsvpc",
    "revision": 7,
    "volumes": [],
    "status": "ACTIVE",
    "requiresAttributes": [
      {"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"},
      {"name": "ecs.capability.execution-role-awslogs"},
      {"name": "ecs.capability.secrets.asm.environment-variables"},
      {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.19"},
      {"name": "ecs.capability.task-eni"}
    ],
    "placementConstraints": [],
    "compatibilities": ["EC2", "FARGATE"],
    "requiresCompatibilities": ["FARGATE"],
    "cpu": "1024",
    "memory": "2048",
    "registeredAt": 1714557600.123,
    "registeredBy": "arn:aws:sts::123456789012:assumed-role/prefect-worker/ecsworker-1a2b3c4d",
    "enableFaultInjection": false
  },
  "tags": [
    {"key": "team", "value": "data"},
    {"key": "ecsworker.io/task-definition-hash", "value": "HASH"}
  ]
}`

func TestCanonicalDescribedEqualsPrepared(t *testing.T) {
	t.Parallel()
	prepared := awsclienttest.MustObject(t, preparedFargate)
	before := prepared.String()
	resp := awsclienttest.MustObject(t, describedFargate)
	described := resp.GetObject("taskDefinition")
	described.Set("tags", resp.GetArray("tags"))

	want := taskdef.Canonical(prepared)
	got := taskdef.Canonical(described)
	if !jsonv.Equal(got, want) {
		t.Fatalf("canonical forms differ\nprepared:  %s\ndescribed: %s", want, got)
	}
	if taskdef.Hash(prepared) != taskdef.Hash(described) {
		t.Error("hashes differ")
	}
	if prepared.String() != before {
		t.Error("CanonicalTaskDefinition modified its argument")
	}
	if h := taskdef.Hash(prepared); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(h) {
		t.Errorf("hash %q is not 32 hex digits", h)
	}
}

// TestCanonicalThroughTheSDK decodes the described revision with the real
// SDK deserializer and turns it back into JSON, as TaskDefinitions does.
func TestCanonicalThroughTheSDK(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, describedFargate)
	}))
	t.Cleanup(srv.Close)
	client := ecs.New(ecs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	out, err := client.DescribeTaskDefinition(context.Background(), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("x")})
	if err != nil {
		t.Fatal(err)
	}
	described := taskdef.DescribedJSON(out)
	if got := described.GetString("taskDefinitionArn"); !strings.HasSuffix(got, ":7") {
		t.Errorf("taskDefinitionArn = %q", got)
	}
	prepared := awsclienttest.MustObject(t, preparedFargate)
	if !taskdef.Same(prepared, described) {
		t.Fatalf("canonical forms differ\nprepared:  %s\ndescribed: %s", taskdef.Canonical(prepared), taskdef.Canonical(described))
	}
}

func TestCanonicalEquivalences(t *testing.T) {
	t.Parallel()
	base := `{"family": "f", "containerDefinitions": [{"name": "a", "image": "i"}]}`
	tests := map[string]struct {
		a, b string
		same bool
	}{
		"AWS defaults filled": {
			a: base,
			b: `{"family": "f", "networkMode": "bridge", "enableFaultInjection": false, "volumes": [], "placementConstraints": [],
				"containerDefinitions": [{"name": "a", "image": "i", "essential": true, "cpu": 0, "versionConsistency": "enabled",
				"portMappings": [], "mountPoints": [], "volumesFrom": [], "environment": [], "secrets": []}]}`,
			same: true,
		},
		"bridge port mapping defaults": {
			a:    `{"family": "f", "containerDefinitions": [{"name": "a", "image": "i", "portMappings": [{"containerPort": 80}]}]}`,
			b:    `{"family": "f", "containerDefinitions": [{"name": "a", "image": "i", "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}]}]}`,
			same: true,
		},
		"order-insensitive lists": {
			a: `{"family": "f", "requiresCompatibilities": ["FARGATE", "EC2"], "tags": [{"key": "b", "value": "2"}, {"key": "a", "value": "1"}],
				"containerDefinitions": [{"name": "a", "image": "i", "environment": [{"name": "Y", "value": "1"}, {"name": "X", "value": "2"}],
				"environmentFiles": [{"value": "s3://b", "type": "s3"}, {"value": "s3://a", "type": "s3"}]}]}`,
			b: `{"family": "f", "requiresCompatibilities": ["EC2", "FARGATE"], "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}],
				"containerDefinitions": [{"name": "a", "image": "i", "environment": [{"name": "X", "value": "2"}, {"name": "Y", "value": "1"}],
				"environmentFiles": [{"value": "s3://a", "type": "s3"}, {"value": "s3://b", "type": "s3"}]}]}`,
			same: true,
		},
		"key order and number forms": {
			a:    `{"containerDefinitions": [{"image": "i", "name": "a", "memory": 512}], "family": "f"}`,
			b:    `{"family": "f", "containerDefinitions": [{"name": "a", "image": "i", "memory": 512.0}]}`,
			same: true,
		},
		"units": {
			a:    `{"family": "f", "cpu": "0.5 vCPU", "memory": "1 GB", "containerDefinitions": [{"name": "a", "image": "i"}]}`,
			b:    `{"family": "f", "cpu": "512", "memory": "1024", "containerDefinitions": [{"name": "a", "image": "i"}]}`,
			same: true,
		},
		"AWS and hash tags ignored": {
			a:    base,
			b:    `{"family": "f", "tags": [{"key": "aws:cloudformation:stack-name", "value": "s"}, {"key": "ecsworker.io/task-definition-hash", "value": "h"}], "containerDefinitions": [{"name": "a", "image": "i"}]}`,
			same: true,
		},
		"essential false is kept": {
			a: `{"family": "f", "containerDefinitions": [{"name": "a", "image": "i"}, {"name": "b", "image": "i", "essential": false}]}`,
			b: `{"family": "f", "containerDefinitions": [{"name": "a", "image": "i"}, {"name": "b", "image": "i"}]}`,
		},
		"zero is kept": {
			a: `{"family": "f", "containerDefinitions": [{"name": "a", "image": "i", "memoryReservation": 0}]}`,
			b: base,
		},
		"container cpu": {
			a: `{"family": "f", "containerDefinitions": [{"name": "a", "image": "i", "cpu": 256}]}`,
			b: base,
		},
		"image": {
			a: `{"family": "f", "containerDefinitions": [{"name": "a", "image": "j"}]}`,
			b: base,
		},
		"family": {
			a: `{"family": "g", "containerDefinitions": [{"name": "a", "image": "i"}]}`,
			b: base,
		},
		"container order matters": {
			a: `{"family": "f", "containerDefinitions": [{"name": "a", "image": "i"}, {"name": "b", "image": "i"}]}`,
			b: `{"family": "f", "containerDefinitions": [{"name": "b", "image": "i"}, {"name": "a", "image": "i"}]}`,
		},
		"network mode": {
			a: `{"family": "f", "networkMode": "awsvpc", "containerDefinitions": [{"name": "a", "image": "i"}]}`,
			b: base,
		},
		"user tags": {
			a: `{"family": "f", "tags": [{"key": "team", "value": "x"}], "containerDefinitions": [{"name": "a", "image": "i"}]}`,
			b: base,
		},
		"environment value": {
			a: `{"family": "f", "containerDefinitions": [{"name": "a", "image": "i", "environment": [{"name": "X", "value": "1"}]}]}`,
			b: `{"family": "f", "containerDefinitions": [{"name": "a", "image": "i", "environment": [{"name": "X", "value": "2"}]}]}`,
		},
		"string and number are different": {
			a: `{"family": "f", "cpu": "1024", "containerDefinitions": [{"name": "a", "image": "i"}]}`,
			b: `{"family": "f", "cpu": 1024, "containerDefinitions": [{"name": "a", "image": "i"}]}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, b := awsclienttest.MustObject(t, tc.a), awsclienttest.MustObject(t, tc.b)
			if got := taskdef.Same(a, b); got != tc.same {
				t.Errorf("same = %v, want %v\na: %s\nb: %s", got, tc.same, taskdef.Canonical(a), taskdef.Canonical(b))
			}
			if got := taskdef.Hash(a) == taskdef.Hash(b); got != tc.same {
				t.Errorf("equal hashes = %v, want %v", got, tc.same)
			}
		})
	}
}

func TestCanonicalIsIdempotent(t *testing.T) {
	t.Parallel()
	for _, s := range []string{preparedFargate, `{"family": "f", "containerDefinitions": [{}], "volumes": [{"name": "v", "host": {}}]}`} {
		once := taskdef.Canonical(awsclienttest.MustObject(t, s))
		twice := taskdef.Canonical(once)
		if once.String() != twice.String() {
			t.Errorf("not idempotent:\n%s\n%s", once, twice)
		}
	}
}
