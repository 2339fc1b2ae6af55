package startstats

import (
	"cmp"
	"fmt"
	"math"
	"strings"

	"github.com/ecsworker/ecsworker/internal/startphase"
)

// Hints are what is known of a deployment besides its runs, which makes
// the advice concrete.
type Hints struct {
	// Image is the deployment's image; ImageRegion its ECR registry's
	// region ("" outside ECR) and ImageBytes its size in ECR (0 unknown).
	Image       string
	ImageRegion string
	ImageBytes  int64
	// Region is the region the deployment's tasks run in, when known.
	Region string
	// ExtraPipPackages is true when the deployment's env sets
	// EXTRA_PIP_PACKAGES; PipInPullSteps when a pull step installs
	// packages; GitClone when a pull step clones a repository.
	ExtraPipPackages, PipInPullSteps, GitClone bool
}

// Advice is one piece of advice on the dominant phase of d, naming the
// command or variable to use; "" when no phase dominates.
func Advice(d Deployment, h Hints) string {
	dom := d.Dominant
	if dom == nil {
		return ""
	}
	lead := fmt.Sprintf("%s takes %s of a typical %s start (p50, %d %%)", phaseNoun[dom.Phase],
		startphase.Seconds(dom.P50), startphase.Seconds(dom.Total), int(math.Round(dom.Share*100)))
	switch dom.Phase {
	case startphase.ImagePull:
		return lead + ": " + imagePullAdvice(h)
	case startphase.Provisioning:
		if onFargate(d.Capacity) {
			return lead + " on Fargate: an EC2 capacity provider with a warm pool of stopped instances starts tasks on hosts that are " +
				"already up and have the image cached. Create one with `ecsworker infra deploy-capacity --cluster NAME ...`, " +
				"then set the job variables it prints (capacity_provider_strategy) on this deployment."
		}
		return lead + ": the EC2 capacity provider is launching instances for the tasks. Give its Auto Scaling group a warm pool " +
			"of stopped instances (`ecsworker infra deploy-capacity --cluster NAME ...` builds one), or keep spare instances " +
			"with a managed scaling target capacity below 100."
	case startphase.FlowStart:
		return lead + ": " + flowStartAdvice(h)
	case startphase.Queueing:
		return lead + " waiting in the worker before RunTask: raise the worker's submission limit " +
			"(`ecsworker worker start --limit N`), the AWS call budget (`--aws-budget RunTask=RATE:BURST`), " +
			"or the pool's and queues' concurrency limits, or start more workers on the pool."
	case startphase.ContainerStart:
		return lead + ": ECS waits for the containers to start after the pull, which is long when a container waits on another " +
			"(dependsOn with HEALTHY) or a sidecar starts slowly; check the task definition's dependsOn and health checks " +
			"(`ecsworker render --work-pool POOL --deployment FLOW/DEP` shows it)."
	}
	return ""
}

var phaseNoun = [...]string{
	startphase.Queueing:       "queueing",
	startphase.Provisioning:   "provisioning",
	startphase.ImagePull:      "the image pull",
	startphase.ContainerStart: "the container start",
	startphase.FlowStart:      "the flow start",
}

// onFargate tells whether most recorded runs ran on Fargate (FARGATE or
// FARGATE_SPOT), or the capacity is unknown (Fargate is ECS's default
// here: the default template launches on FARGATE).
func onFargate(caps []Capacity) bool {
	fargate, other := 0, 0
	for _, c := range caps {
		if strings.HasPrefix(c.Name, "FARGATE") {
			fargate += c.Runs
		} else if c.Name != "unknown" {
			other += c.Runs
		}
	}
	return fargate >= other
}

func imagePullAdvice(h Hints) string {
	var parts []string
	size := "a smaller image (a slim base, a multi-stage build, no build tools or caches)"
	if h.ImageBytes > 0 {
		size += fmt.Sprintf("; it is %s in ECR", FormatBytes(h.ImageBytes))
	}
	parts = append(parts, size)
	switch {
	case h.ImageRegion == "" && h.Image != "":
		parts = append(parts, "the image in ECR in the cluster's region rather than "+registryOf(h.Image))
	case h.ImageRegion != "" && h.Region != "" && h.ImageRegion != h.Region:
		parts = append(parts, fmt.Sprintf("the image in ECR in the cluster's region (%s; it is in %s)", h.Region, h.ImageRegion))
	case h.ImageRegion != "" && h.Region == "":
		parts = append(parts, "ECR in the same region as the cluster (the image is in "+h.ImageRegion+")")
	}
	region := "REGION"
	if r := cmp.Or(h.Region, h.ImageRegion); r != "" {
		region = r
	}
	parts = append(parts, fmt.Sprintf("VPC endpoints for ECR in private subnets (com.amazonaws.%s.ecr.dkr and com.amazonaws.%s.ecr.api, "+
		"and the S3 gateway endpoint that serves the layers), so that pulls skip the NAT gateway", region, region))
	parts = append(parts, "a SOCI index (`soci create IMAGE` and `soci push IMAGE`), which Fargate uses to start before the pull ends, "+
		"or zstd-compressed layers (`docker buildx build --output type=image,name=IMAGE,compression=zstd,force-compression=true,push=true .`)")
	return "use " + strings.Join(parts, "; ") + "."
}

func flowStartAdvice(h Hints) string {
	var found []string
	if h.ExtraPipPackages {
		found = append(found, "the job's env sets EXTRA_PIP_PACKAGES")
	}
	if h.PipInPullSteps {
		found = append(found, "a pull step runs pip install")
	}
	if h.GitClone {
		found = append(found, "a pull step clones a git repository")
	}
	s := "the container installs or fetches code before the flow runs. Dependencies installed at start " +
		"(EXTRA_PIP_PACKAGES in the job variables' env, `pip install` or pip_install_requirements in the pull steps) " +
		"belong in the image: bake them in and drop them from the deployment. Heavy pull steps (git_clone of a large " +
		"repository) can be replaced by code baked into the image, or a shallow clone of a smaller repository."
	if len(found) > 0 {
		s += " Here " + strings.Join(found, ", and ") + "."
	}
	return s
}

func registryOf(image string) string {
	host, _, ok := strings.Cut(image, "/")
	if !ok || !strings.ContainsAny(host, ".:") && host != "localhost" {
		return "Docker Hub"
	}
	return host
}

// FormatBytes shows a size in decimal megabytes (gigabytes from 1 GB), as
// the ECR console does: "812.4 MB", "1.21 GB".
func FormatBytes(n int64) string {
	if n >= 1e9 {
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
