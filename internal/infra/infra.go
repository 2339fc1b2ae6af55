// Package infra deploys the ecsworker worker on AWS with CloudFormation:
// the embedded templates (the worker as an ECS service, or only its ECS
// task state change queue), the pre-deploy checks, deployment through
// change sets with the stack's events streamed as they happen, and the
// listing, inspection and deletion of the stacks it created, which it
// recognises by their tags.
//
// AWS is reached only through the narrow interfaces of aws.go, which the
// aws-sdk-go-v2 clients satisfy and tests point at internal/fakes/awsfake.
package infra

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

// Tags that mark a stack as ecsworker's: list, status and delete touch no
// other stack. None of them changes from one deploy to the next, so that
// redeploying an unchanged stack is a no-op rather than an update.
const (
	TagManagedBy = "ManagedBy"
	ManagedByVal = "ecsworker"
	TagKind      = "ecsworker:stack-type"
	TagWorkPool  = "ecsworker:work-pool"
)

// Tags are the stack tags of a deploy.
func Tags(kind Kind, pool string) []cfntypes.Tag {
	return []cfntypes.Tag{
		{Key: aws.String(TagManagedBy), Value: aws.String(ManagedByVal)},
		{Key: aws.String(TagKind), Value: aws.String(string(kind))},
		{Key: aws.String(TagWorkPool), Value: aws.String(pool)},
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

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
