package cfnstack_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awsclient/awsclienttest"
	"github.com/ecsworker/ecsworker/internal/cfnstack"
	awsfake "github.com/ecsworker/ecsworker/internal/fakes/awsfake"
)

// clients are what the deployer needs of the AWS clients.
type clients struct {
	CFN    awsclient.CloudFormationAPI
	Region string
}

// fakeAWS is the AWS test server with a CloudFormation client that
// reaches it in process, for use inside a synctest bubble (where the
// deployer's waits and the server's clock are both virtual).
func fakeAWS(t *testing.T) (*awsfake.Server, *clients) {
	t.Helper()
	s, cfg := awsclienttest.InProcess(t, awsfake.Options{})
	return s, &clients{CFN: cloudformation.NewFromConfig(cfg), Region: "us-east-1"}
}

// recorder is a Progress that keeps what it hears.
type recorder struct {
	steps  []string
	events []cfnstack.StackEvent
}

func (r *recorder) Step(msg string)             { r.steps = append(r.steps, msg) }
func (r *recorder) Event(e cfnstack.StackEvent) { r.events = append(r.events, e) }
func (r *recorder) statuses(logical string) []string {
	var out []string
	for _, e := range r.events {
		if e.LogicalID == logical {
			out = append(out, e.Status)
		}
	}
	return out
}

func ctxOf(t *testing.T) context.Context { return t.Context() }
