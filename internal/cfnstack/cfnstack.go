// Package cfnstack is ecsworker's side of CloudFormation: the tags that
// mark a stack as ecsworker's (and say its kind and work pool), reading
// and listing those stacks and their events, deploying them through
// change sets and deleting them while following their events, and
// showing that progress on a terminal or in a log.
//
// AWS is reached only through awsclient.CloudFormationAPI, which the
// aws-sdk-go-v2 client satisfies and tests point at internal/fakes/awsfake.
package cfnstack

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/ecsworker/ecsworker/internal/backoff"
)

// Tags that mark a stack as ecsworker's: list, status and delete touch no
// other stack. None of them changes from one deploy to the next, so that
// redeploying an unchanged stack is a no-op rather than an update.
const (
	TagManagedBy = "ManagedBy"
	ManagedByVal = "ecsworker"
	TagKind      = "ecsworker:stack-type"
	TagWorkPool  = "ecsworker:work-pool"
	// TagCluster names the cluster a capacity stack serves; a capacity
	// stack belongs to a cluster, not to a work pool.
	TagCluster = "ecsworker:cluster"
)

// Tags are the stack tags of a deploy.
func Tags(kind Kind, pool string) []cfntypes.Tag {
	return []cfntypes.Tag{
		{Key: aws.String(TagManagedBy), Value: aws.String(ManagedByVal)},
		{Key: aws.String(TagKind), Value: aws.String(string(kind))},
		{Key: aws.String(TagWorkPool), Value: aws.String(pool)},
	}
}

// CapacityTags are the stack tags of a capacity deploy, which serves a
// cluster rather than a work pool.
func CapacityTags(cluster string) []cfntypes.Tag {
	return []cfntypes.Tag{
		{Key: aws.String(TagManagedBy), Value: aws.String(ManagedByVal)},
		{Key: aws.String(TagKind), Value: aws.String(string(KindCapacity))},
		{Key: aws.String(TagCluster), Value: aws.String(cluster)},
	}
}

// Clock is time as the waits see it; tests replace it to move time
// without sleeping.
type Clock interface {
	Now() time.Time
	// Sleep waits d or until ctx ends, returning ctx's error then.
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
func RealClock() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error { return backoff.Sleep(ctx, d) }

// Kind is a stack ecsworker deploys.
type Kind string

const (
	// KindService is the worker as an ECS service, with its events queue.
	KindService Kind = "service"
	// KindEvents is only the ECS task state change queue, for a worker
	// that runs elsewhere.
	KindEvents Kind = "events"
	// KindCapacity is an EC2 capacity provider with a warm pool, attached
	// to a cluster, for flow runs that start fast.
	KindCapacity Kind = "capacity"
)

// Kinds lists every kind, in the order help texts show them.
var Kinds = []Kind{KindService, KindEvents, KindCapacity}

// ParseKind accepts the names the CLI shows, and upstream's "events-only".
func ParseKind(s string) (Kind, error) {
	switch s {
	case "service":
		return KindService, nil
	case "events", "events-only":
		return KindEvents, nil
	case "capacity":
		return KindCapacity, nil
	}
	return "", fmt.Errorf("unknown template %q: use service, events or capacity", s)
}
