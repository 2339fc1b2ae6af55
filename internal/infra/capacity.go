package infra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/cfnstack"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// The public SSM parameters of the ECS-optimised Amazon Linux 2023 AMIs,
// which CloudFormation resolves at each deploy: a redeploy picks up the
// newest AMI.
const (
	AMIParameterX86   = "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended/image_id"
	AMIParameterARM64 = "/aws/service/ecs/optimized-ami/amazon-linux-2023/arm64/recommended/image_id"
)

// StrategyItem is one entry of a cluster's default capacity provider
// strategy.
type StrategyItem struct {
	CapacityProvider string `json:"capacityProvider"`
	Weight           int32  `json:"weight"`
	Base             int32  `json:"base"`
}

// CapacityConfig is what deploy-capacity deploys.
type CapacityConfig struct {
	StackName        string
	Cluster          string // name, as the cluster check resolved it
	ProviderName     string
	CPUArchitecture  string
	InstanceType     string
	SubnetIDs        []string
	SecurityGroupIDs []string
	VpcID            string // of the subnets, found by the network check
	MaxSize          int
	WarmPoolSize     int
	TargetCapacity   int
	RootVolumeSize   int
	PrepullImages    []string

	// ExistingProviders and DefaultStrategy are the cluster's, read before
	// the template is rendered: the association resource replaces the
	// cluster's whole list, so they are written back beside the new one.
	ExistingProviders []string
	DefaultStrategy   []StrategyItem
}

var (
	providerNameRE  = lazyregexp.New(`^[A-Za-z0-9_-]{1,255}$`)
	instanceTypeRE  = lazyregexp.New(`^([a-z][a-z0-9-]*)\.[a-z0-9]+$`)
	gravitonRE      = lazyregexp.New(`^[a-z]+[0-9]+g[a-z]*$`)
	securityGroupRE = lazyregexp.New(`^sg-[0-9a-f]{8,17}$`)
	imageRefRE      = lazyregexp.New(`^[A-Za-z0-9][A-Za-z0-9./:@_-]*$`)
	ecrRegistryRE   = lazyregexp.New(`^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/`)
)

// reservedProviderPrefixes are the prefixes ECS refuses in a capacity
// provider's name.
var reservedProviderPrefixes = []string{"aws", "ecs", "fargate"}

// DefaultCapacityStackName is the stack of a cluster's capacity.
func DefaultCapacityStackName(cluster string) string {
	name := "ecsworker-capacity-" + strings.Trim(stackUnsafe().ReplaceAllString(cluster, "-"), "-")
	if len(name) > 128 {
		name = strings.TrimRight(name[:128], "-")
	}
	return name
}

// DefaultProviderName names the capacity provider after the cluster. It
// does not start with the stack's "ecsworker": ECS refuses provider names
// starting with "ecs" (which is also why the template names the provider
// rather than letting CloudFormation derive a name from the stack).
func DefaultProviderName(cluster string) string {
	name := "prefect-ec2-" + familyUnsafe().ReplaceAllString(cluster, "-")
	if len(name) > 255 {
		name = name[:255]
	}
	return name
}

// AMIParameter is the SSM parameter of the AMI for an architecture.
func AMIParameter(arch string) string {
	if arch == "ARM64" {
		return AMIParameterARM64
	}
	return AMIParameterX86
}

// isGraviton tells an ARM64 instance family (m7g, c6gn, t4g, a1).
func isGraviton(instanceType string) bool {
	m := instanceTypeRE().FindStringSubmatch(instanceType)
	if m == nil {
		return false
	}
	return m[1] == "a1" || gravitonRE().MatchString(m[1])
}

// IsECRImage tells an image in a private ECR registry, which the instance
// role must be allowed to read for the pre-pull.
func IsECRImage(image string) bool { return ecrRegistryRE().MatchString(image) }

// Validate reports every problem at once, each naming the flag, the
// value and the fix, before anything is sent to AWS.
func (c CapacityConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Cluster == "" {
		bad("--cluster is required: the name or ARN of the existing ECS cluster the capacity joins")
	}
	if (c.StackName != "" || c.Cluster != "") && !stackNameRE().MatchString(c.StackName) {
		bad("--stack-name %q: a stack name has up to 128 letters, digits and hyphens and starts with a letter", c.StackName)
	}
	lower := strings.ToLower(c.ProviderName)
	switch {
	case c.ProviderName == "" && c.Cluster == "":
	case !providerNameRE().MatchString(c.ProviderName):
		bad("--capacity-provider-name %q: give up to 255 letters, digits, hyphens and underscores", c.ProviderName)
	case slices.ContainsFunc(reservedProviderPrefixes, func(p string) bool { return strings.HasPrefix(lower, p) }):
		bad("--capacity-provider-name %q: ECS refuses capacity provider names starting with aws, ecs or fargate; pick another, e.g. %s", c.ProviderName, DefaultProviderName(cmpOr(c.Cluster, "prod")))
	}
	if c.CPUArchitecture != "X86_64" && c.CPUArchitecture != "ARM64" {
		bad("--cpu-architecture %q: use X86_64 or ARM64", c.CPUArchitecture)
	}
	switch {
	case !instanceTypeRE().MatchString(c.InstanceType):
		bad("--instance-types %q: give one EC2 instance type such as m7i.large (a warm pool cannot serve several: EC2 Auto Scaling refuses warm pools on groups with a mixed instances policy)", c.InstanceType)
	case c.CPUArchitecture == "ARM64" && !isGraviton(c.InstanceType):
		bad("--instance-types %s is not a Graviton (ARM64) type, but --cpu-architecture is ARM64; give e.g. m7g.large, or use X86_64", c.InstanceType)
	case c.CPUArchitecture == "X86_64" && isGraviton(c.InstanceType):
		bad("--instance-types %s is a Graviton (ARM64) type; pass --cpu-architecture ARM64 so that the arm64 AMI is used", c.InstanceType)
	}
	errs = append(errs, subnetsProblems(c.SubnetIDs, "the subnets the instances launch in")...)
	for _, g := range c.SecurityGroupIDs {
		if !securityGroupRE().MatchString(g) {
			bad("--security-groups: %q is not a security group ID; give IDs such as sg-0a1b2c3d, comma-separated, or leave it out to have the stack create one", g)
		}
	}
	if c.MaxSize < 1 || c.MaxSize > 1000 {
		bad("--max-size %d: give 1 to 1000 instances", c.MaxSize)
	}
	switch {
	case c.WarmPoolSize < 0:
		bad("--warm-pool-size %d: give 0 (no warm pool) or more stopped instances", c.WarmPoolSize)
	case c.MaxSize >= 1 && c.WarmPoolSize > c.MaxSize:
		bad("--warm-pool-size %d is bigger than --max-size %d: the extra instances could never enter service, yet their volumes are paid; lower --warm-pool-size or raise --max-size", c.WarmPoolSize, c.MaxSize)
	}
	if c.TargetCapacity < 1 || c.TargetCapacity > 100 {
		bad("--target-capacity %d: give a percentage from 1 to 100 (100 keeps no spare instance running)", c.TargetCapacity)
	}
	if c.RootVolumeSize < 30 || c.RootVolumeSize > 16384 {
		bad("--root-volume-size %d: give 30 GiB (the AMI's size) to 16384", c.RootVolumeSize)
	}
	for _, img := range c.PrepullImages {
		if !imageRefRE().MatchString(img) || len(img) > 512 {
			bad("--prepull-image %q: give one image reference per flag, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:v3", img)
		}
	}
	if n := len(strings.Join(c.PrepullImages, " ")); n > 4000 {
		bad("--prepull-image: %d characters of images; the instance user data holds at most about 4000, pre-pull fewer images", n)
	}
	return errors.Join(errs...)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Parameters are the capacity stack's parameters, every one sent.
func (c CapacityConfig) Parameters() []cfntypes.Parameter {
	ecr := "false"
	if slices.ContainsFunc(c.PrepullImages, IsECRImage) {
		ecr = "true"
	}
	return params([][2]string{
		{"ClusterName", c.Cluster},
		{"CapacityProviderName", c.ProviderName},
		{"ImageId", AMIParameter(c.CPUArchitecture)},
		{"InstanceType", c.InstanceType},
		{"VpcId", c.VpcID},
		{"SubnetIds", strings.Join(c.SubnetIDs, ",")},
		{"SecurityGroupIds", strings.Join(c.SecurityGroupIDs, ",")},
		{"MaxSize", strconv.Itoa(c.MaxSize)},
		{"WarmPoolSize", strconv.Itoa(c.WarmPoolSize)},
		{"TargetCapacity", strconv.Itoa(c.TargetCapacity)},
		{"RootVolumeSize", strconv.Itoa(c.RootVolumeSize)},
		{"PrepullImages", strings.Join(c.PrepullImages, " ")},
		{"PrepullFromEcr", ecr},
	})
}

// Warnings are doubts that do not stop a deploy.
func (c CapacityConfig) Warnings() []string {
	var out []string
	if c.WarmPoolSize == 0 {
		out = append(out, "--warm-pool-size 0: no warm pool; every scale-out boots a new instance (minutes, not seconds).")
	}
	if len(c.PrepullImages) == 0 {
		out = append(out, "no --prepull-image: instances start with an empty image cache, so the first run on each pulls its image.")
	}
	return out
}

// RenderCapacity returns the capacity template with the cluster's other
// providers and its default strategy written into the association, so
// that attaching the new provider keeps them. cfg nil renders the template
// export-template shows: only the new provider, no default strategy.
func RenderCapacity(cfg *CapacityConfig) (*jsonv.Object, error) {
	t, err := load("capacity.json")
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return t, nil
	}
	assoc := t.GetObject("Resources").GetObject("ClusterAssociation").GetObject("Properties")
	if assoc == nil {
		return nil, errors.New("templates/capacity.json: no ClusterAssociation properties")
	}
	var providers []any
	for _, p := range cfg.ExistingProviders {
		if p != cfg.ProviderName {
			providers = append(providers, p)
		}
	}
	providers = append(providers, jsonv.ObjectOf("Ref", "CapacityProvider"))
	assoc.Set("CapacityProviders", providers)
	strategy := []any{}
	for _, it := range cfg.DefaultStrategy {
		item := jsonv.ObjectOf("CapacityProvider", it.CapacityProvider, "Weight", json.Number(strconv.Itoa(int(it.Weight))))
		if it.Base != 0 {
			item.Set("Base", json.Number(strconv.Itoa(int(it.Base))))
		}
		if it.CapacityProvider == cfg.ProviderName {
			// The cluster's default already names this stack's provider
			// (a redeploy): refer to it, so the order of creation holds.
			item.Set("CapacityProvider", jsonv.ObjectOf("Ref", "CapacityProvider"))
		}
		strategy = append(strategy, item)
	}
	assoc.Set("DefaultCapacityProviderStrategy", strategy)
	return t, nil
}

// CapacityBody is the capacity template as sent to CloudFormation.
func CapacityBody(cfg CapacityConfig) (string, error) {
	t, err := RenderCapacity(&cfg)
	if err != nil {
		return "", err
	}
	return compact(cfnstack.KindCapacity, t)
}

// JobVariables are the job variables that send a deployment's flow runs
// to the capacity provider: a strategy naming it, and no launch type,
// which ECS refuses beside a strategy.
func JobVariables(provider string) map[string]any {
	return map[string]any{
		"capacity_provider_strategy": []map[string]any{{"capacityProvider": provider, "weight": 1}},
		"launch_type":                nil,
	}
}

// SecurityGroupsAPI is the EC2 call that checks given security groups.
type SecurityGroupsAPI interface {
	DescribeSecurityGroups(context.Context, *ec2.DescribeSecurityGroupsInput, ...func(*ec2.Options)) (*ec2.DescribeSecurityGroupsOutput, error)
}

// CheckCapacityNetwork checks that the subnets exist and share one VPC,
// which it returns, and that the given security groups are in it.
func CheckCapacityNetwork(ctx context.Context, c *Clients, subnetIDs, groupIDs []string) (string, error) {
	out, err := c.EC2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: subnetIDs})
	if err != nil {
		if strings.HasPrefix(awserr.ErrorCode(err), "InvalidSubnetID") {
			return "", fmt.Errorf("--subnets: %s (region %s); give subnets of the cluster's VPC", awserr.ErrorMessage(err), c.Region)
		}
		return "", fmt.Errorf("--subnets: cannot describe the subnets in %s: %s", c.Region, awserr.ErrorMessage(err))
	}
	vpcs := map[string][]string{}
	var vpc string
	for _, sn := range out.Subnets {
		v := aws.ToString(sn.VpcId)
		vpc = v
		vpcs[v] = append(vpcs[v], aws.ToString(sn.SubnetId))
	}
	if len(vpcs) > 1 {
		var parts []string
		for v, ids := range vpcs {
			parts = append(parts, strings.Join(ids, ", ")+" in "+v)
		}
		slices.Sort(parts)
		return "", fmt.Errorf("--subnets are in several VPCs (%s); an Auto Scaling group launches in one VPC: give subnets of one", strings.Join(parts, "; "))
	}
	if len(groupIDs) == 0 {
		return vpc, nil
	}
	if c.SG == nil {
		return "", errors.New("--security-groups: no EC2 client to check them with")
	}
	sgs, err := c.SG.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{GroupIds: groupIDs})
	if err != nil {
		if strings.HasPrefix(awserr.ErrorCode(err), "InvalidGroup") {
			return "", fmt.Errorf("--security-groups: %s (region %s); give groups of VPC %s, or leave the flag out to have the stack create one", awserr.ErrorMessage(err), c.Region, vpc)
		}
		return "", fmt.Errorf("--security-groups: cannot describe them in %s: %s", c.Region, awserr.ErrorMessage(err))
	}
	for _, g := range sgs.SecurityGroups {
		if v := aws.ToString(g.VpcId); v != vpc {
			return "", fmt.Errorf("--security-groups: %s is in %s, the subnets in %s; give groups of VPC %s", aws.ToString(g.GroupId), v, vpc, vpc)
		}
	}
	return vpc, nil
}
