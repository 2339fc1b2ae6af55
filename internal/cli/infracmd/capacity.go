package infracmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ecsworker/ecsworker/internal/cfnstack"
	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	"github.com/ecsworker/ecsworker/internal/infra"
)

type capacityFlags struct {
	deployFlags
	provider       string
	arch           string
	instanceTypes  []string
	subnets        string
	securityGroups string
	maxSize        int
	warmPool       int
	target         int
	rootVolume     int
	prepull        []string
}

func newDeployCapacityCmd(stdio clikit.IO) *cobra.Command {
	o := &capacityFlags{}
	cmd := &cobra.Command{
		Use:   "deploy-capacity",
		Short: "Deploy (or update) EC2 capacity with a warm pool for fast flow run starts",
		Long: `Deploy an EC2 capacity provider for an existing cluster: an Auto Scaling group on the
ECS-optimised AMI (from its public SSM parameter), with a warm pool of stopped
instances that start in seconds, managed scaling and managed termination protection.
The ECS agent prefers cached images (ECS_IMAGE_PULL_BEHAVIOR=prefer-cached), and
--prepull-image images are pulled at each boot, so a warm instance starts with them.

The capacity provider is attached to the cluster with CloudFormation's
ClusterCapacityProviderAssociations, which replaces the cluster's whole provider
list: the cluster's providers and default strategy are read first and kept. Redeploy
after changing the cluster's providers by other means, or they are put back.

Everything is checked first; then a change set is created and executed and the
stack's events are shown until it settles. At the end, the job variables that send a
deployment's flow runs to this capacity are printed.

CloudFormation creates the resources with your credentials: besides the checks'
calls (ecs:DescribeClusters, ec2:DescribeSubnets, ec2:DescribeSecurityGroups), they
need ssm:GetParameters and the ec2, autoscaling, ecs and iam actions the README's
permissions table lists for infra deploy-capacity. See docs/capacity.md.`,
		Example: `  ecsworker infra deploy-capacity --cluster prod --subnets subnet-0a1b2c3d,subnet-4e5f6a7b \
    --instance-types m7i.large --max-size 10 --warm-pool-size 2 \
    --prepull-image 123456789012.dkr.ecr.us-east-1.amazonaws.com/flows:v3
  ecsworker infra deploy-capacity --cluster prod --subnets subnet-0a1b2c3d --dry-run --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDeployCapacity(cmd, stdio, o) },
	}
	f := cmd.Flags()
	o.registerStack(f, "CloudFormation stack name (default: ecsworker-capacity-<cluster>)")
	f.StringVar(&o.provider, "capacity-provider-name", "", "name of the capacity provider (default: prefect-ec2-<cluster>; ECS refuses names starting with aws, ecs or fargate)")
	f.StringVar(&o.arch, "cpu-architecture", "X86_64", "X86_64 or ARM64 (Graviton instance types, arm64 AMI)")
	f.StringSliceVar(&o.instanceTypes, "instance-types", []string{"m7i.large"}, "EC2 instance type (one: warm pools refuse mixed instance types)")
	f.StringVar(&o.subnets, "subnets", "", "subnet IDs the instances launch in, comma-separated (required)")
	f.StringVar(&o.securityGroups, "security-groups", "", "security group IDs of the instances, comma-separated (default: the stack creates one with no inbound rule)")
	f.IntVar(&o.maxSize, "max-size", 10, "most instances in service")
	f.IntVar(&o.warmPool, "warm-pool-size", 1, "stopped instances kept ready (each pays for its EBS volume only); 0: no warm pool")
	f.IntVar(&o.target, "target-capacity", 100, "managed scaling's target utilisation in percent; below 100 keeps spare instances running")
	f.IntVar(&o.rootVolume, "root-volume-size", 30, "root EBS volume in GiB, where cached images live")
	f.StringArrayVar(&o.prepull, "prepull-image", nil, "image to pull at each boot, before the ECS agent starts (repeatable)")
	f.SetNormalizeFunc(upstreamNames)
	return cmd
}

func runDeployCapacity(cmd *cobra.Command, stdio clikit.IO, o *capacityFlags) error {
	ctx := cmd.Context()
	cfg := infra.CapacityConfig{
		StackName: o.stack, Cluster: clusterName(o.cluster), ProviderName: o.provider, CPUArchitecture: o.arch,
		SubnetIDs: splitList(o.subnets), SecurityGroupIDs: splitList(o.securityGroups),
		MaxSize: o.maxSize, WarmPoolSize: o.warmPool, TargetCapacity: o.target, RootVolumeSize: o.rootVolume,
		PrepullImages: o.prepull,
	}
	var typeErr error
	switch len(o.instanceTypes) {
	case 0:
		typeErr = errors.New("--instance-types is empty: give one EC2 instance type such as m7i.large")
	case 1:
		cfg.InstanceType = o.instanceTypes[0]
	default:
		cfg.InstanceType = o.instanceTypes[0]
		if o.warmPool > 0 {
			typeErr = fmt.Errorf("--instance-types %s: a warm pool serves one instance type (EC2 Auto Scaling refuses warm pools on groups with a mixed instances policy); give one type, or deploy one stack per type with its own --capacity-provider-name", strings.Join(o.instanceTypes, ","))
		} else {
			typeErr = fmt.Errorf("--instance-types %s: give one instance type", strings.Join(o.instanceTypes, ","))
		}
	}
	if cfg.StackName == "" && cfg.Cluster != "" {
		cfg.StackName = infra.DefaultCapacityStackName(cfg.Cluster)
	}
	if cfg.ProviderName == "" && cfg.Cluster != "" {
		cfg.ProviderName = infra.DefaultProviderName(cfg.Cluster)
	}
	if err := errors.Join(typeErr, cfg.Validate()); err != nil {
		return invalidAll(err)
	}

	clients, err := newClients(ctx, &o.aws)
	if err != nil {
		return err
	}
	if err := preflight(ctx, stdio, clients); err != nil {
		return err
	}
	cluster, err := infra.ResolveCluster(ctx, clients.ECS, clients.Region, o.cluster)
	if err != nil {
		return &clikit.CodedError{Code: clikit.ExitError, Err: err}
	}
	cfg.Cluster = cluster.Name
	cfg.ExistingProviders, cfg.DefaultStrategy = cluster.CapacityProviders, cluster.DefaultStrategy
	if cfg.VpcID, err = infra.CheckCapacityNetwork(ctx, clients, cfg.SubnetIDs, cfg.SecurityGroupIDs); err != nil {
		return &clikit.CodedError{Code: clikit.ExitError, Err: err}
	}
	kept := "none"
	if len(cfg.ExistingProviders) > 0 {
		kept = strings.Join(cfg.ExistingProviders, ", ")
	}
	fmt.Fprintf(stdio.Err, "Cluster %s: keeping its capacity providers (%s) and default strategy (%s) beside %s: CloudFormation's association replaces the cluster's whole list.\n",
		cluster.Name, kept, strategyText(cfg.DefaultStrategy), cfg.ProviderName)
	warnings := cfg.Warnings()
	for _, w := range warnings {
		fmt.Fprintln(stdio.Err, "warning: "+w)
	}
	body, err := infra.CapacityBody(cfg)
	if err != nil {
		return err
	}
	in := cfnstack.DeployInput{StackName: cfg.StackName, Kind: cfnstack.KindCapacity, Template: body, Parameters: cfg.Parameters(),
		Tags: cfnstack.CapacityTags(cfg.Cluster), Wait: o.waiting()}
	if o.dryRun {
		return dryRun(ctx, stdio, clients, o.asJSON, in, warnings, nil, capacityExtra(cfg))
	}
	res, err := deploy(ctx, stdio, clients, &o.deployFlags, in)
	if err != nil {
		return err
	}
	vars := infra.JobVariables(cfg.ProviderName)
	if o.asJSON {
		writeInfraJSON(stdio.Out, map[string]any{"stack": res.Stack, "action": res.Action, "changes": res.Changes, "jobVariables": vars})
		return nil
	}
	printStack(stdio.Out, res.Stack)
	if res.waited {
		printJobVariables(stdio, cfg.ProviderName)
	}
	return nil
}

// capacityExtra is what a capacity dry run shows beyond the parameters.
func capacityExtra(cfg infra.CapacityConfig) map[string]any {
	return map[string]any{
		"keptCapacityProviders": append([]string{}, cfg.ExistingProviders...),
		"keptDefaultStrategy":   append([]infra.StrategyItem{}, cfg.DefaultStrategy...),
		"jobVariables":          infra.JobVariables(cfg.ProviderName),
	}
}

// printJobVariables tells how to send flow runs to the capacity, and what
// EC2 tasks need that Fargate tasks do not (see ecsjob's checks).
func printJobVariables(stdio clikit.IO, provider string) {
	b, _ := json.Marshal(infra.JobVariables(provider))
	fmt.Fprintf(stdio.Err, `Send a deployment's flow runs to this capacity with the job variables:
  %s
Check a deployment with them first: ecsworker render --work-pool POOL --job-variables '%s'
These are EC2 tasks: with the pool's default template they run in bridge network mode, with cpu and memory
set on the container (they must fit the instance type). The job variables subnets, security_groups and
assign_public_ip apply only to awsvpc tasks: set them to null for these deployments, or give the task
definition "networkMode": "awsvpc" (each task then takes one of the instance's network interfaces, and
assign_public_ip must stay off). placement_strategy and placement_constraints apply, as they do not on Fargate.
`, b, b)
}

func strategyText(s []infra.StrategyItem) string {
	if len(s) == 0 {
		return "none"
	}
	var parts []string
	for _, it := range s {
		p := fmt.Sprintf("%s weight %d", it.CapacityProvider, it.Weight)
		if it.Base > 0 {
			p += fmt.Sprintf(" base %d", it.Base)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// clusterName is the name part of a cluster ARN, or the name given.
func clusterName(ident string) string {
	if i := strings.LastIndex(ident, ":cluster/"); i >= 0 {
		return ident[i+len(":cluster/"):]
	}
	return ident
}
