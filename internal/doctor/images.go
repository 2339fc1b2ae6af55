package doctor

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecsworker/ecsworker/internal/doctor/netcheck"
	"github.com/ecsworker/ecsworker/internal/ecrimage"
)

// otherImages is what the check of images outside ECR collects.
type otherImages struct{ images []string }

// image registers the check of one container image.
func (r *runner) image(scope string, j Job, image string) {
	im, ok := ecrimage.Parse(image)
	if !ok {
		s, isNew := r.add(catImages, "image-elsewhere|"+scope, "Images outside ECR", j.Deployment)
		if isNew {
			st := &otherImages{}
			s.state = st
			s.run = func() Check {
				return Check{Status: Pass, Detail: "not checked (doctor looks up only ECR images): " + netcheck.List(st.images)}
			}
		}
		st := s.state.(*otherImages)
		st.images = addUnique(st.images, image)
		return
	}
	c := j.Clients
	if s, isNew := r.add(catImages, "image|"+scope+"|"+image, "Image "+image, j.Deployment); isNew {
		s.run = func() Check { return r.checkImage(c, im) }
	}
}

func (r *runner) checkImage(c *Clients, im ecrimage.Ref) Check {
	rc, err := c.in(r.ctx, im.Region)
	if err != nil {
		return Check{Status: Skipped, Detail: fmt.Sprintf("not checked: no AWS clients for region %s (%v)", im.Region, err)}
	}
	what := im.What()
	out, err := rc.ECR.DescribeImages(r.ctx, im.DescribeImagesInput())
	push := fmt.Sprintf("Push it (docker push %s), or set the image job variable to an image that exists", im.URI)
	var noRepo *ecrtypes.RepositoryNotFoundException
	var noImage *ecrtypes.ImageNotFoundException
	switch {
	case errors.As(err, &noRepo):
		return Check{Status: Fail, Detail: fmt.Sprintf("ECR has no repository %s in registry %s (region %s): the task cannot pull its image", im.Repository, im.Registry, im.Region),
			Fix: fmt.Sprintf("Create it (aws ecr create-repository --repository-name %s --region %s) and push the image, or set the image job variable to an image that exists", im.Repository, im.Region)}
	case errors.As(err, &noImage):
		return Check{Status: Fail, Detail: fmt.Sprintf("repository %s has no image with %s: the task cannot pull it", im.Repository, what), Fix: push}
	case err != nil:
		return r.callFailed("ecr:DescribeImages", err)
	case len(out.ImageDetails) == 0:
		return Check{Status: Fail, Detail: fmt.Sprintf("repository %s has no image with %s: the task cannot pull it", im.Repository, what), Fix: push}
	}
	d := out.ImageDetails[0]
	if d.ImageStatus == ecrtypes.ImageStatusArchived {
		return Check{Status: Fail, Detail: "the image is archived: ECR does not serve it until it is restored",
			Fix: fmt.Sprintf("Restore it (aws ecr update-image-storage-class --repository-name %s --image-id %s --target-storage-class STANDARD --region %s), or push it again", im.Repository, imageIDArg(im), im.Region)}
	}
	detail := "in ECR"
	if d.ImageSizeInBytes != nil {
		detail += fmt.Sprintf(", %s", megabytes(*d.ImageSizeInBytes))
	}
	if d.ImagePushedAt != nil {
		detail += ", pushed " + d.ImagePushedAt.UTC().Format("2006-01-02")
	}
	return Check{Status: Pass, Detail: detail}
}

func imageIDArg(im ecrimage.Ref) string {
	if im.Digest != "" {
		return "imageDigest=" + im.Digest
	}
	return "imageTag=" + im.Tag
}

// megabytes writes a size in MB (10^6 bytes), as ECR's console does.
func megabytes(n int64) string {
	mb := float64(n) / 1e6
	if mb < 10 {
		return fmt.Sprintf("%.1f MB", mb)
	}
	return fmt.Sprintf("%.0f MB", mb)
}

// logState is what the log group check collects over jobs: the group is
// created by the task only if every job that uses it says so.
type logState struct{ createAll bool }

// logGroup registers the check of an awslogs group.
func (r *runner) logGroup(scope string, j Job, region, group string, create bool) {
	s, isNew := r.add(catLogs, "logs|"+scope+"|"+region+"|"+group, "Log group "+group, j.Deployment)
	if isNew {
		st := &logState{createAll: true}
		s.state = st
		c := j.Clients
		s.run = func() Check { return r.checkLogGroup(c, region, group, st.createAll) }
	}
	st := s.state.(*logState)
	st.createAll = st.createAll && create
}

func (r *runner) checkLogGroup(c *Clients, region, group string, create bool) Check {
	if create {
		return Check{Status: Pass, Detail: fmt.Sprintf("in %s; created by the task if missing (awslogs-create-group): the execution role needs logs:CreateLogGroup", region)}
	}
	rc, err := c.in(r.ctx, region)
	if err != nil {
		return Check{Status: Skipped, Detail: fmt.Sprintf("not checked: no AWS clients for region %s (%v)", region, err)}
	}
	p := cloudwatchlogs.NewDescribeLogGroupsPaginator(rc.Logs, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(group)})
	for p.HasMorePages() {
		page, err := p.NextPage(r.ctx)
		if err != nil {
			return r.callFailed("logs:DescribeLogGroups", err)
		}
		for _, g := range page.LogGroups {
			if aws.ToString(g.LogGroupName) == group {
				return Check{Status: Pass, Detail: "exists in " + region}
			}
		}
	}
	return Check{Status: Fail,
		Detail: fmt.Sprintf("CloudWatch Logs has no group %s in %s, and the task does not create it (awslogs-create-group): the task fails to start", group, region),
		Fix:    fmt.Sprintf("aws logs create-log-group --log-group-name %s --region %s, or set \"awslogs-create-group\": \"true\" in cloudwatch_logs_options (the execution role then needs logs:CreateLogGroup)", group, region)}
}
