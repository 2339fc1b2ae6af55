package taskdef

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
)

// DefaultPruneKeep is how many of the worker's revisions Prune keeps when
// asked to keep 0.
const DefaultPruneKeep = 5

// PruneReport says what Prune did (or, in a dry run, would do).
type PruneReport struct {
	Family string
	DryRun bool
	// Kept are the worker's revisions left ACTIVE, newest first.
	Kept []string
	// Deregistered are the worker's revisions deregistered (or, in a dry
	// run, to deregister), newest first.
	Deregistered []string
	// NotOurs counts the ACTIVE revisions without the worker's hash tag,
	// which Prune never touches.
	NotOurs int
	// Failed lists revisions that could not be deregistered, with why.
	Failed map[string]string
}

// Prune deregisters the ACTIVE revisions of family that the worker
// registered (they carry HashTag), keeping the newest keep
// (DefaultPruneKeep when keep is 0). Revisions the worker did not make are
// never touched. With dryRun nothing is changed.
func Prune(ctx context.Context, api awsclient.ECSAPI, family string, keep int, dryRun bool) (PruneReport, error) {
	rep := PruneReport{Family: family, DryRun: dryRun}
	if family == "" {
		return rep, errors.New("prune: no task definition family given")
	}
	if keep < 0 {
		return rep, fmt.Errorf("prune: keep must be 0 or more, got %d", keep)
	}
	if keep == 0 {
		keep = DefaultPruneKeep
	}
	arns, err := activeRevisions(ctx, api, family, 0)
	if err != nil {
		if awserr.IsContextError(err) {
			return rep, err
		}
		return rep, awserr.Explain("ListTaskDefinitions", err, 1)
	}

	var ours []string
	for _, arn := range arns {
		out, err := api.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
			TaskDefinition: aws.String(arn),
			Include:        []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
		})
		if err != nil {
			if awserr.IsContextError(err) {
				return rep, err
			}
			if awserr.IsNotFound(err) {
				continue
			}
			return rep, awserr.Explain("DescribeTaskDefinition", err, 1)
		}
		if tagValue(out.Tags, HashTag) == "" {
			rep.NotOurs++
			continue
		}
		ours = append(ours, arn)
	}
	sortByRevisionDesc(ours)
	if len(ours) <= keep {
		rep.Kept = ours
		return rep, nil
	}
	rep.Kept = ours[:keep]
	for _, arn := range ours[keep:] {
		if dryRun {
			rep.Deregistered = append(rep.Deregistered, arn)
			continue
		}
		if _, err := api.DeregisterTaskDefinition(ctx, &ecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(arn)}); err != nil {
			if awserr.IsContextError(err) {
				return rep, err
			}
			if rep.Failed == nil {
				rep.Failed = map[string]string{}
			}
			rep.Failed[arn] = awserr.Explain("DeregisterTaskDefinition", err, 1).Error()
			continue
		}
		rep.Deregistered = append(rep.Deregistered, arn)
	}
	return rep, nil
}

// sortByRevisionDesc orders ARNs of one family newest first, by revision
// number (ListTaskDefinitions already does; this does not rely on it).
func sortByRevisionDesc(arns []string) {
	rev := func(arn string) int {
		_, r, _ := parseTaskDefinitionARN(arn)
		n, _ := strconv.Atoi(r)
		return n
	}
	for i := 1; i < len(arns); i++ {
		for j := i; j > 0 && rev(arns[j]) > rev(arns[j-1]); j-- {
			arns[j], arns[j-1] = arns[j-1], arns[j]
		}
	}
}
