package awsfake

import (
	"fmt"
	"slices"
	"time"

	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// ECR holds images that tests push with PutImage, so that a client can
// check an image exists before it runs a task with it. The images are in
// the server's region: ECR's registries are regional, so a request signed
// for another region finds no repository, as it would in that region's
// registry.

func ecrService() *service {
	return &service{name: "ecr", wire: wireJSON11, target: "AmazonEC2ContainerRegistry_V20150921", ops: map[string]op{
		"DescribeImages": jsonOp((*Server).ecrDescribeImages),
	}}
}

type ecrState struct {
	repos map[string]*ecrRepo
}

type ecrRepo struct {
	name   string
	images []*ecrImage // in push order
}

type ecrImage struct {
	digest string
	tags   []string
	size   int64
	pushed time.Time
}

var (
	ecrRepoRE = lazyregexp.New(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	ecrTagRE  = lazyregexp.New(`^[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,127}$`)
)

// PutImage pushes an image of sizeBytes to the repository (created if
// missing) under tag, which moves off any image that had it, as a docker
// push does. It returns the image URI to give a task definition. A name or
// tag ECR would refuse panics: it is a test's set-up mistake.
func (s *Server) PutImage(repository, tag string, sizeBytes int64) (imageURI string) {
	if len(repository) < 2 || len(repository) > 256 || !ecrRepoRE().MatchString(repository) {
		panic(fmt.Sprintf("awsfake: PutImage: invalid repository name %q", repository))
	}
	if !ecrTagRE().MatchString(tag) {
		panic(fmt.Sprintf("awsfake: PutImage: invalid image tag %q", tag))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ecr.repos == nil {
		s.ecr.repos = map[string]*ecrRepo{}
	}
	repo := s.ecr.repos[repository]
	if repo == nil {
		repo = &ecrRepo{name: repository}
		s.ecr.repos[repository] = repo
	}
	for _, im := range repo.images {
		im.tags = slices.DeleteFunc(im.tags, func(t string) bool { return t == tag })
	}
	repo.images = append(repo.images, &ecrImage{digest: "sha256:" + s.newIDLocked(64), tags: []string{tag}, size: sizeBytes, pushed: s.now()})
	return fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s:%s", s.opts.AccountID, s.opts.Region, repository, tag)
}

func ecrInvalid(format string, args ...any) *apiError {
	return newErr(400, "InvalidParameterException", format, args...)
}

func (s *Server) ecrDescribeImages(in *ecrDescribeImagesRequest, r *request) (any, *apiError) {
	if in.RepositoryName == "" {
		return nil, ecrInvalid("1 validation error detected: Value null at 'repositoryName' failed to satisfy constraint: Member must not be null")
	}
	registry := in.RegistryId
	if registry == "" {
		registry = s.opts.AccountID
	}
	var repo *ecrRepo
	if region := signingRegion(r.http); registry == s.opts.AccountID && (region == "" || region == s.opts.Region) {
		repo = s.ecr.repos[in.RepositoryName]
	}
	if repo == nil {
		return nil, newErr(400, "RepositoryNotFoundException", "The repository with name '%s' does not exist in the registry with id '%s'", in.RepositoryName, registry)
	}
	if in.MaxResults != nil && (*in.MaxResults < 1 || *in.MaxResults > 1000) {
		return nil, ecrInvalid("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 1000", *in.MaxResults)
	}
	detail := func(im *ecrImage) ecrImageDetail {
		return ecrImageDetail{RegistryId: registry, RepositoryName: repo.name, ImageDigest: im.digest,
			ImageTags: slices.Clone(im.tags), ImageSizeInBytes: new(im.size), ImagePushedAt: at(im.pushed),
			ImageManifestMediaType: "application/vnd.docker.distribution.manifest.v2+json",
			ArtifactMediaType:      "application/vnd.docker.container.image.v1+json",
			ImageStatus:            "ACTIVE"}
	}
	out := ecrDescribeImagesResponse{ImageDetails: []ecrImageDetail{}}
	if len(in.ImageIds) > 0 {
		if in.MaxResults != nil || in.NextToken != "" || in.Filter != nil {
			return nil, ecrInvalid("Invalid parameter: imageIds cannot be used with maxResults, nextToken or filter")
		}
		for _, id := range in.ImageIds {
			if id.ImageDigest == "" && id.ImageTag == "" {
				return nil, ecrInvalid("Invalid parameter at 'imageIds' failed to satisfy constraint: 'Image identifiers must have at least one of imageDigest or imageTag'")
			}
			i := slices.IndexFunc(repo.images, func(im *ecrImage) bool {
				return (id.ImageDigest == "" || im.digest == id.ImageDigest) && (id.ImageTag == "" || slices.Contains(im.tags, id.ImageTag))
			})
			if i < 0 {
				return nil, newErr(400, "ImageNotFoundException", "The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist within the repository with name '%s' in the registry with id '%s'",
					nullIfEmpty(id.ImageDigest), nullIfEmpty(id.ImageTag), repo.name, registry)
			}
			out.ImageDetails = append(out.ImageDetails, detail(repo.images[i]))
		}
		return out, nil
	}
	status := "ANY"
	if in.Filter != nil && in.Filter.TagStatus != "" {
		status = in.Filter.TagStatus
		if status != "TAGGED" && status != "UNTAGGED" && status != "ANY" {
			return nil, ecrInvalid("1 validation error detected: Value '%s' at 'filter.tagStatus' failed to satisfy constraint: Member must satisfy enum value set: [TAGGED, ANY, UNTAGGED]", status)
		}
	}
	var all []ecrImageDetail
	for _, im := range repo.images {
		if status == "TAGGED" && len(im.tags) == 0 || status == "UNTAGGED" && len(im.tags) > 0 {
			continue
		}
		all = append(all, detail(im))
	}
	max := 0
	if in.MaxResults != nil {
		max = *in.MaxResults
	}
	items, next, ok := page(all, in.NextToken, max, 100, 1000)
	if !ok {
		return nil, ecrInvalid("Invalid parameter at 'nextToken' failed to satisfy constraint: 'The next token is not valid'")
	}
	out.ImageDetails = append(out.ImageDetails, items...)
	out.NextToken = next
	return out, nil
}

// nullIfEmpty renders an absent identifier as ECR's messages do.
func nullIfEmpty(s string) string {
	if s == "" {
		return "null"
	}
	return s
}
