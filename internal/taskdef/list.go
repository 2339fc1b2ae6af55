package taskdef

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecsworker/ecsworker/internal/awsclient"
)

// listPageSize is the most revisions ListTaskDefinitions returns a page.
const listPageSize = 100

// activeRevisions lists the ACTIVE revisions of family, newest first: up
// to limit of them, or all when limit is 0. Errors are the SDK's, for the
// caller to explain.
func activeRevisions(ctx context.Context, api awsclient.ECSAPI, family string, limit int) ([]string, error) {
	pageSize := listPageSize
	if limit > 0 {
		pageSize = min(limit, listPageSize)
	}
	p := ecs.NewListTaskDefinitionsPaginator(api, &ecs.ListTaskDefinitionsInput{
		FamilyPrefix: aws.String(family),
		Status:       ecstypes.TaskDefinitionStatusActive,
		Sort:         ecstypes.SortOrderDesc,
		MaxResults:   aws.Int32(int32(pageSize)),
	})
	var arns []string
	for p.HasMorePages() && (limit == 0 || len(arns) < limit) {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, arn := range out.TaskDefinitionArns {
			// familyPrefix is documented as the full family name; make sure.
			if f, _, ok := parseTaskDefinitionARN(arn); ok && f == family {
				arns = append(arns, arn)
			}
		}
	}
	if limit > 0 && len(arns) > limit {
		arns = arns[:limit]
	}
	return arns, nil
}
