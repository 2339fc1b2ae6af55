// Package infracmd holds `ecsworker infra`: deploying the worker with
// CloudFormation (deploy-service, deploy-events), the stacks' list, status
// and deletion, export-template, and the image's health probe.
package infracmd

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ecsworker/ecsworker/internal/buildinfo"
	"github.com/ecsworker/ecsworker/internal/cfnstack"
	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	"github.com/ecsworker/ecsworker/internal/infra"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectconfig"
	"github.com/ecsworker/ecsworker/internal/prefectpool"
)

// defaultWorkerImage is the image deploy-service and export-template use
// unless --image says otherwise: ECSWORKER_IMAGE, else the image published
// for this CLI's release, so that the worker on ECS and the CLI that
// deployed it agree. A development build has none: "" (the commands then
// ask for --image).
func defaultWorkerImage() string {
	if img := os.Getenv("ECSWORKER_IMAGE"); img != "" {
		return img
	}
	img, _ := infra.ReleaseImage(buildinfo.String())
	return img
}

// imageHelp is the --image flag's help; a release's default (its own
// published image) is appended by the flag package.
const imageHelp = "ecsworker `IMAGE` (env ECSWORKER_IMAGE; a release defaults to its own " + infra.ImageRepository + ":X.Y.Z, a development build has no default)"

// noImage is the error of a development build run without --image.
func noImage(region, command string) error {
	region = cmp.Or(region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"))
	return &clikit.CodedError{Code: clikit.ExitInvalid, Err: &infra.NoReleaseImageError{Version: buildinfo.String(), Region: region, Command: command}}
}

// infraClock is the time the infra commands wait on; tests replace it so
// that stack operations on the AWS test server advance without sleeping.
var infraClock cfnstack.Clock = cfnstack.RealClock()

// newClients makes the AWS clients of the infra commands from the flags.
func newClients(ctx context.Context, f *clikit.AWSFlags) (*infra.Clients, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	c, err := infra.NewClients(ctx, infra.ClientOptions{Region: f.Region, Profile: f.Profile, UserAgent: buildinfo.String()})
	if err != nil {
		return nil, &clikit.CodedError{Code: clikit.ExitInvalid, Err: err}
	}
	return c, nil
}

// upstreamFlags maps the option names of prefect-aws's ecs-worker
// commands to ecsworker's, so that scripts written for it keep working.
var upstreamFlags = map[string]string{
	"work-pool-name":                 "work-pool",
	"existing-cluster-identifier":    "cluster",
	"existing-cluster-arn":           "cluster",
	"existing-vpc-id":                "vpc",
	"existing-subnet-ids":            "subnets",
	"docker-image":                   "image",
	"task-cpu":                       "cpu",
	"task-memory":                    "memory",
	"work-queues":                    "work-queue",
	"prefect-api-url":                "worker-api-url",
	"prefect-api-key-secret-arn":     "api-key-secret-arn",
	"prefect-auth-string-secret-arn": "auth-string-secret-arn",
	"template-type":                  "type",
	"output-path":                    "output",
	"force":                          "yes",
}

func upstreamNames(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	if n, ok := upstreamFlags[name]; ok {
		return pflag.NormalizedName(n)
	}
	return pflag.NormalizedName(name)
}

// New is `ecsworker infra`: the CloudFormation stacks that deploy the
// worker, and the worker image's health probe.
func New(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "infra",
		Short: "Deploy the worker on ECS with CloudFormation, and manage those stacks",
		Long: `Deploy the ecsworker worker as an ECS service next to the flow runs it starts
(deploy-service), or only the ECS task state change queue a worker reads
(deploy-events), or EC2 capacity with a warm pool for fast flow run starts
(deploy-capacity), with CloudFormation. Deploys go through change sets and show the
stack's events as they happen; redeploying an unchanged stack changes nothing.
The stacks are tagged ManagedBy=ecsworker, and list, status and delete touch no
other stack.`,
	}
	// Only the deploys talk to Prefect (for the worker's API URL and key,
	// and the pool's defaults), so only they take --api-url and --profile.
	service, events := newDeployServiceCmd(stdio, api), newDeployEventsCmd(stdio, api)
	api.Register(service)
	api.Register(events)
	cmd.AddCommand(
		service,
		events,
		newDeployCapacityCmd(stdio),
		newInfraListCmd(stdio),
		newInfraStatusCmd(stdio),
		newInfraDeleteCmd(stdio),
		newExportTemplateCmd(stdio),
		newHealthcheckCmd(stdio),
	)
	return cmd
}

// deployFlags are shared by deploy-service and deploy-events.
type deployFlags struct {
	aws            clikit.AWSFlags
	pool, stack    string
	cluster        string
	wait, noWait   bool
	dryRun, asJSON bool
	timeout        time.Duration
	// imageCheck is what the check of deploy-service's image found, for
	// the dry run to show; nil for deploy-events, which runs no image.
	imageCheck *infra.ImageCheck
}

func (d *deployFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&d.pool, "work-pool", "", "Prefect work pool the worker serves (required)")
	d.registerStack(fs, "CloudFormation stack name (default: ecsworker-<work pool>, -events for deploy-events)")
	fs.SetNormalizeFunc(upstreamNames)
}

// registerStack registers the flags of every deploy command but
// --work-pool: the stack, the cluster, waiting, the dry run, JSON and AWS.
func (d *deployFlags) registerStack(fs *pflag.FlagSet, stackHelp string) {
	fs.StringVar(&d.stack, "stack-name", "", stackHelp)
	fs.StringVar(&d.cluster, "cluster", "", "existing ECS cluster, by name or ARN (required)")
	fs.BoolVar(&d.wait, "wait", true, "follow the stack until it settles")
	fs.BoolVar(&d.noWait, "no-wait", false, "return once CloudFormation has started")
	fs.BoolVar(&d.dryRun, "dry-run", false, "check everything and show what would be deployed, without deploying")
	fs.BoolVar(&d.asJSON, "json", false, "print the result as JSON on stdout")
	fs.DurationVar(&d.timeout, "timeout", time.Hour, "give up waiting after this long (the stack operation goes on)")
	d.aws.Register(fs)
}

func (d *deployFlags) waiting() bool { return d.wait && !d.noWait }

// refuseSecretFlags keeps prefect-aws's flags that took secrets on the
// command line, hidden, so that using one gets the way to pass the secret
// instead of "unknown flag".
func refuseSecretFlags(fs *pflag.FlagSet) {
	for _, name := range []string{"prefect-api-key", "prefect-auth-string"} {
		fs.String(name, "", "")
		_ = fs.MarkHidden(name)
	}
}

func checkSecretFlags(cmd *cobra.Command) error {
	for flag, fix := range map[string]string{
		"prefect-api-key":     "pipe the key to --api-key-stdin, set PREFECT_API_KEY, or pass --api-key-secret-arn",
		"prefect-auth-string": "pipe it to --auth-string-stdin, set PREFECT_API_AUTH_STRING, or pass --auth-string-secret-arn",
	} {
		if cmd.Flags().Changed(flag) {
			return clikit.Invalid("--%s would leave the secret in your shell history and process list; %s", flag, fix)
		}
	}
	return nil
}

type serviceFlags struct {
	deployFlags
	vpc, subnets, image      string
	workerAPIURL             string
	queues                   []string
	publicIP                 bool
	apiKeyARN, authARN       string
	apiKeyStdin, authStdin   bool
	cpu, memory              int
	arch                     string
	desired, minCap, maxCap  int
	retention                int
	flowLogGroup, family     string
	flowTaskRole             string
	alarmEmail, alarmTopic   string
	crashAlarm, latencyAlarm int
	noPoolDefaults           bool
}

func newDeployServiceCmd(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	o := &serviceFlags{}
	cmd := &cobra.Command{
		Use:   "deploy-service",
		Short: "Deploy (or update) the worker as an ECS service, with its events queue",
		Long: `Deploy the ecsworker worker of a work pool as a Fargate ECS service on an existing
cluster, VPC and subnets, together with the ECS task state change queue it reads.
Everything is checked first (AWS credentials, the cluster, the VPC and subnets, every
flag); then a change set is created and executed and the stack's events are shown
until it settles. Redeploying with the same options changes nothing.

The worker talks to the Prefect API of --worker-api-url (default: the API this CLI
uses, from --api-url, PREFECT_API_URL or the profile). Its API key (or basic auth
string) reaches it only through a Secrets Manager secret: an existing one
(--api-key-secret-arn), or one the stack creates from PREFECT_API_KEY, the profile's
key or --api-key-stdin. After a successful deploy, the pool's empty defaults
(cluster, VPC, subnets, security group, execution role, secret ARNs) are filled
from the stack through the Prefect API; values already set are kept.`,
		Example: `  ecsworker infra deploy-service --work-pool my-pool --cluster prod \
    --vpc vpc-0abc12345 --subnets subnet-0a1b2c3d,subnet-4e5f6a7b
  echo "$KEY" | ecsworker infra deploy-service --work-pool my-pool --cluster prod \
    --vpc vpc-0abc12345 --subnets subnet-0a1b2c3d --api-key-stdin --image 123456789012.dkr.ecr.us-east-1.amazonaws.com/ecsworker:v1.0.0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDeployService(cmd, stdio, api, o) },
	}
	f := cmd.Flags()
	o.register(f)
	f.StringVar(&o.vpc, "vpc", "", "existing VPC ID of the worker (required)")
	f.StringVar(&o.subnets, "subnets", "", "subnet IDs of the worker, comma-separated (required)")
	f.BoolVar(&o.publicIP, "assign-public-ip", false, "give the worker a public IP (public subnets without a NAT gateway)")
	f.StringVar(&o.image, "image", defaultWorkerImage(), imageHelp)
	f.StringVar(&o.workerAPIURL, "worker-api-url", "", "Prefect API URL the worker uses (default: this CLI's Prefect API URL)")
	f.StringSliceVar(&o.queues, "work-queue", nil, "work queue to poll (repeatable or comma-separated; default: all of the pool's)")
	f.StringVar(&o.apiKeyARN, "api-key-secret-arn", "", "existing Secrets Manager secret holding the Prefect API key")
	f.BoolVar(&o.apiKeyStdin, "api-key-stdin", false, "read the Prefect API key from standard input")
	f.StringVar(&o.authARN, "auth-string-secret-arn", "", "existing Secrets Manager secret holding the basic auth string of a self-hosted server")
	f.BoolVar(&o.authStdin, "auth-string-stdin", false, "read the basic auth string (user:password) from standard input")
	f.IntVar(&o.cpu, "cpu", 512, "worker task CPU units: 256, 512, 1024, 2048 or 4096")
	f.IntVar(&o.memory, "memory", 1024, "worker task memory in MiB (must suit --cpu on Fargate)")
	f.StringVar(&o.arch, "cpu-architecture", "X86_64", "X86_64 or ARM64")
	f.IntVar(&o.desired, "desired-count", 1, "number of worker tasks")
	f.IntVar(&o.minCap, "min-capacity", 1, "fewest worker tasks with autoscaling")
	f.IntVar(&o.maxCap, "max-capacity", 0, "most worker tasks with CPU autoscaling; 0 turns autoscaling off")
	f.IntVar(&o.retention, "log-retention-days", 30, "days the worker's logs are kept")
	f.StringVar(&o.flowLogGroup, "flow-run-log-group", "prefect", "log group of the flow runs (configure_cloudwatch_logs); the worker reads crashed runs' logs there")
	f.StringVar(&o.family, "family-pattern", "", "task definition families the worker may run, * as wildcard (default: prefect_<work pool>_*)")
	f.StringVar(&o.flowTaskRole, "flow-run-task-role-arn", "", "role the flow runs' code runs as (task_role_arn), which the worker may then pass")
	f.StringVar(&o.alarmEmail, "alarm-email", "", "email address notified by the alarms (through a new SNS topic)")
	f.StringVar(&o.alarmTopic, "alarm-topic-arn", "", "existing SNS topic the alarms notify")
	f.IntVar(&o.crashAlarm, "crash-alarm-threshold", 5, "crashed flow runs in 15 minutes that set off the crash alarm")
	f.IntVar(&o.latencyAlarm, "submission-latency-alarm-seconds", 60, "seconds from a run's scheduled start to its RunTask (p90 over 5 minutes) above which the latency alarm goes off")
	f.BoolVar(&o.noPoolDefaults, "no-pool-defaults", false, "do not fill the work pool's empty defaults after the deploy")
	refuseSecretFlags(f)
	return cmd
}

// splitList reads a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// readSecret reads one secret from standard input, trimmed of the
// newline echo or a heredoc adds.
func readSecret(r io.Reader, flag string) (string, error) {
	if r == nil {
		return "", clikit.Invalid("%s: nothing on standard input", flag)
	}
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", clikit.Invalid("%s: cannot read standard input: %v", flag, err)
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return "", clikit.Invalid("%s: standard input is empty; pipe the secret in, e.g. printf %%s \"$KEY\" | ecsworker infra deploy-service ... %s", flag, flag)
	}
	return line, nil
}

func runDeployService(cmd *cobra.Command, stdio clikit.IO, api *clikit.APIFlags, o *serviceFlags) error {
	ctx := cmd.Context()
	if err := checkSecretFlags(cmd); err != nil {
		return err
	}
	if o.apiKeyStdin && o.authStdin {
		return clikit.Invalid("--api-key-stdin and --auth-string-stdin both read standard input; store one of them in Secrets Manager and pass its --*-secret-arn")
	}
	if o.image == "" && !cmd.Flags().Changed("image") {
		return noImage(o.aws.Region, "ecsworker infra deploy-service --work-pool "+cmp.Or(o.pool, "POOL")+" ...")
	}
	pcfg, err := prefectconfig.LoadConfig(os.LookupEnv, prefectconfig.Config{APIURL: api.APIURL, Profile: api.Profile})
	if err != nil {
		return &clikit.CodedError{Code: clikit.ExitInvalid, Err: err}
	}
	cfg := infra.ServiceConfig{
		WorkPool: o.pool, StackName: o.stack, VpcID: o.vpc, SubnetIDs: splitList(o.subnets), PublicIP: o.publicIP,
		Image: o.image, WorkQueues: o.queues, APIURL: cmp.Or(o.workerAPIURL, pcfg.APIURL),
		APIKeySecretArn: o.apiKeyARN, AuthStringSecretArn: o.authARN,
		CPU: o.cpu, Memory: o.memory, CPUArchitecture: o.arch,
		DesiredCount: o.desired, MinCapacity: o.minCap, MaxCapacity: o.maxCap, LogRetentionDays: o.retention,
		FlowRunLogGroup: o.flowLogGroup, FamilyPattern: o.family, FlowRunTaskRoleArn: o.flowTaskRole,
		AlarmEmail: o.alarmEmail, AlarmTopicArn: o.alarmTopic,
		CrashAlarmThreshold: o.crashAlarm, SubmissionLatencyAlarmSeconds: o.latencyAlarm,
	}
	if cfg.StackName == "" && cfg.WorkPool != "" {
		cfg.StackName = infra.DefaultStackName(cfg.WorkPool, cfnstack.KindService)
	}
	if cfg.FamilyPattern == "" {
		cfg.FamilyPattern = infra.DefaultFamilyPattern(cfg.WorkPool)
	}
	var notes []string
	for _, sec := range []struct {
		arn       string
		fromStdin bool
		flag      string
		what, env string
		config    string
		into      *string
	}{
		{o.apiKeyARN, o.apiKeyStdin, "--api-key-stdin", "The Prefect API key", "PREFECT_API_KEY", pcfg.APIKey, &cfg.APIKey},
		{o.authARN, o.authStdin, "--auth-string-stdin", "The basic auth string", "PREFECT_API_AUTH_STRING", pcfg.AuthString, &cfg.AuthString},
	} {
		// An existing secret's ARN is used as is; otherwise the stack
		// creates a secret from standard input or the configuration.
		switch {
		case sec.arn != "":
		case sec.fromStdin:
			if *sec.into, err = readSecret(stdio.In, sec.flag); err != nil {
				return err
			}
			notes = append(notes, sec.what+" from standard input goes into a Secrets Manager secret the stack creates.")
		case sec.config != "":
			*sec.into = sec.config
			notes = append(notes, sec.what+" of your Prefect configuration ("+sec.env+" or the profile) goes into a Secrets Manager secret the stack creates.")
		}
	}
	if err := o.requireCluster(cfg.Validate()); err != nil {
		return err
	}

	clients, clusterArn, err := o.connect(ctx, stdio)
	if err != nil {
		return err
	}
	cfg.ClusterArn = clusterArn
	warnings, err := infra.CheckNetwork(ctx, clients.EC2, clients.Region, cfg.VpcID, cfg.SubnetIDs, cfg.PublicIP)
	if err != nil {
		return &clikit.CodedError{Code: clikit.ExitError, Err: err}
	}
	check, err := infra.CheckImage(ctx, clients.ECRIn, cfg.Image)
	if err != nil {
		return &clikit.CodedError{Code: clikit.ExitError, Err: err}
	}
	fmt.Fprintf(stdio.Err, "Image %s: %s\n", check.Image, check.Detail)
	if check.Warning != "" {
		warnings = append(warnings, check.Warning)
	}
	warnings = append(warnings, cfg.Warnings()...)
	for _, w := range warnings {
		fmt.Fprintln(stdio.Err, "warning: "+w)
	}
	for _, n := range notes {
		fmt.Fprintln(stdio.Err, n)
	}
	o.imageCheck = check
	res, err := o.deployStack(ctx, stdio, clients, cfnstack.KindService, cfg.Image, cfg.StackName, cfg.WorkPool, cfg.Parameters(), warnings)
	if err != nil || res == nil {
		return err
	}
	switch {
	case o.noPoolDefaults:
		res.PoolDefaults = nil
	case !res.waited:
		fmt.Fprintln(stdio.Err, "The work pool's defaults are filled after a deploy that waits; run the deploy again without --no-wait once the stack is ready.")
	default:
		res.PoolDefaults = fillPoolDefaults(ctx, stdio, api, cfg.WorkPool, res.Stack)
	}
	return printDeploy(stdio, o.asJSON, res)
}

func newDeployEventsCmd(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	o := &deployFlags{}
	var noPoolDefaults bool
	cmd := &cobra.Command{
		Use:   "deploy-events",
		Short: "Deploy (or update) only the ECS task state change queue, for a worker run elsewhere",
		Long: `Deploy an EventBridge rule for the ECS task state changes of a cluster, an encrypted
SQS queue it delivers to (only that rule may send), a dead-letter queue, and a
managed policy that lets a worker consume the queue. Give the worker the queue with
PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME (shown at the end) and attach the
policy to its role. The cluster may be given by name: the stack gets its ARN, which
the rule must match.`,
		Example: `  ecsworker infra deploy-events --work-pool my-pool --cluster prod`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg := infra.EventsConfig{WorkPool: o.pool, StackName: o.stack}
			if cfg.StackName == "" && cfg.WorkPool != "" {
				cfg.StackName = infra.DefaultStackName(cfg.WorkPool, cfnstack.KindEvents)
			}
			if err := o.requireCluster(cfg.Validate()); err != nil {
				return err
			}
			clients, clusterArn, err := o.connect(ctx, stdio)
			if err != nil {
				return err
			}
			cfg.ClusterArn = clusterArn
			res, err := o.deployStack(ctx, stdio, clients, cfnstack.KindEvents, "", cfg.StackName, cfg.WorkPool, cfg.Parameters(), nil)
			if err != nil || res == nil {
				return err
			}
			if res.waited && !noPoolDefaults {
				res.PoolDefaults = fillPoolDefaults(ctx, stdio, api, cfg.WorkPool, res.Stack)
			}
			if err := printDeploy(stdio, o.asJSON, res); err != nil {
				return err
			}
			if env := res.Stack.OutputMap()["WorkerEnvironment"]; env != "" && !o.asJSON {
				fmt.Fprintf(stdio.Err, "Give your worker %s and attach the policy %s to its role.\n", env, res.Stack.OutputMap()["EventsConsumerPolicyArn"])
			}
			return nil
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().BoolVar(&noPoolDefaults, "no-pool-defaults", false, "do not fill the work pool's empty cluster default after the deploy")
	return cmd
}

// invalidAll turns joined validation errors into one exit-2 error listing
// each problem on its own line.
func invalidAll(err error) error {
	var lines []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 1 {
		return &clikit.CodedError{Code: clikit.ExitInvalid, Err: errors.New(lines[0])}
	}
	return &clikit.CodedError{Code: clikit.ExitInvalid, Err: fmt.Errorf("%d problems:\n  - %s", len(lines), strings.Join(lines, "\n  - "))}
}

// preflight checks the AWS credentials before anything else touches AWS.
// connect makes the AWS clients and checks, before anything is created,
// the credentials and the cluster both deploys need.
// requireCluster adds the missing --cluster to the configuration's
// problems, reported all at once.
func (o *deployFlags) requireCluster(err error) error {
	if o.cluster == "" {
		err = errors.Join(err, errors.New("--cluster is required: the name or ARN of the existing ECS cluster"))
	}
	if err != nil {
		return invalidAll(err)
	}
	return nil
}

// deployStack renders the template of kind and deploys it, or prints the
// dry run; a nil result without error means the dry run was printed.
func (o *deployFlags) deployStack(ctx context.Context, stdio clikit.IO, clients *infra.Clients, kind cfnstack.Kind, image, stack, pool string, params []cfntypes.Parameter, warnings []string) (*deployOutput, error) {
	body, err := infra.Body(kind, image)
	if err != nil {
		return nil, err
	}
	in := cfnstack.DeployInput{StackName: stack, Kind: kind, Template: body, Parameters: params, Tags: cfnstack.Tags(kind, pool), Wait: o.waiting()}
	if o.dryRun {
		return nil, dryRun(ctx, stdio, clients, o.asJSON, in, warnings, o.imageCheck, nil)
	}
	return deploy(ctx, stdio, clients, o, in)
}

func (o *deployFlags) connect(ctx context.Context, stdio clikit.IO) (*infra.Clients, string, error) {
	clients, err := newClients(ctx, &o.aws)
	if err != nil {
		return nil, "", err
	}
	if err := preflight(ctx, stdio, clients); err != nil {
		return nil, "", err
	}
	cluster, err := infra.ResolveCluster(ctx, clients.ECS, clients.Region, o.cluster)
	if err != nil {
		return nil, "", &clikit.CodedError{Code: clikit.ExitError, Err: err}
	}
	return clients, cluster.Arn, nil
}

func preflight(ctx context.Context, stdio clikit.IO, c *infra.Clients) error {
	id, err := infra.CheckCredentials(ctx, c.STS)
	if err != nil {
		return &clikit.CodedError{Code: clikit.ExitError, Err: err}
	}
	fmt.Fprintf(stdio.Err, "AWS account %s (%s), region %s\n", id.Account, id.Arn, c.Region)
	return nil
}

func progressFor(stdio clikit.IO) cfnstack.Progress {
	if clikit.IsTerminalWriter(stdio.Err) {
		return cfnstack.NewLiveProgress(stdio.Err, infraClock)
	}
	return cfnstack.NewPlainProgress(stdio.Err)
}

// deployOutput is what a deploy prints.
type deployOutput struct {
	Stack        *cfnstack.Stack   `json:"stack"`
	Action       string            `json:"action"` // create, update or none
	Changes      []cfnstack.Change `json:"changes"`
	PoolDefaults *infra.FillResult `json:"poolDefaults,omitempty"`
	waited       bool
}

func deploy(ctx context.Context, stdio clikit.IO, c *infra.Clients, o *deployFlags, in cfnstack.DeployInput) (*deployOutput, error) {
	d := &cfnstack.Deployer{CFN: c.CFN, Region: c.Region, Clock: infraClock, Progress: progressFor(stdio), Timeout: o.timeout}
	start := infraClock.Now()
	res, err := d.Deploy(ctx, in)
	var none *cfnstack.NoChangesError
	switch {
	case errors.As(err, &none):
		fmt.Fprintf(stdio.Err, "No changes: stack %s is already as asked.\n", in.StackName)
		return &deployOutput{Stack: none.Stack, Action: "none", Changes: []cfnstack.Change{}, waited: true}, nil
	case err != nil:
		return nil, deployError(stdio, o.asJSON, err)
	}
	if !res.Waited {
		fmt.Fprintf(stdio.Err, "Stack %s: %s started (%s). Follow it with: ecsworker infra status %s\n", in.StackName, res.Action, res.Stack.Status, in.StackName)
	} else {
		fmt.Fprintf(stdio.Err, "Stack %s: %s complete (%s) in %s.\n", in.StackName, res.Action, res.Stack.Status, infraClock.Now().Sub(start).Round(time.Second))
	}
	return &deployOutput{Stack: res.Stack, Action: res.Action, Changes: res.Changes, waited: res.Waited}, nil
}

// deployError prints a failed operation's resources and reasons, or its
// JSON, and returns an already-printed error.
func deployError(stdio clikit.IO, asJSON bool, err error) error {
	var failed *cfnstack.StackFailedError
	if !errors.As(err, &failed) {
		var nm *cfnstack.NotManagedError
		code := clikit.ExitError
		if errors.As(err, &nm) {
			code = clikit.ExitInvalid
		}
		if asJSON {
			writeInfraJSON(stdio.Out, map[string]any{"error": err.Error()})
		}
		return &clikit.CodedError{Code: code, Err: err}
	}
	if asJSON {
		writeInfraJSON(stdio.Out, map[string]any{"error": err.Error(), "failure": failed})
	}
	fmt.Fprintln(stdio.Err, "Error: "+err.Error())
	if len(failed.Failures) > 0 {
		fmt.Fprintln(stdio.Err, "Failed resources:")
		for _, f := range failed.Failures {
			fmt.Fprintf(stdio.Err, "  %s (%s) %s: %s\n", f.LogicalID, f.Type, f.Status, f.Reason)
		}
	}
	switch failed.Operation {
	case "create":
		fmt.Fprintln(stdio.Err, "Nothing was left behind but the empty stack. Fix what the reasons say and deploy again: the stack is then deleted and created afresh.")
	case "update":
		fmt.Fprintln(stdio.Err, "The stack was rolled back to its previous state and the worker keeps running as before. Fix what the reasons say and deploy again.")
	case "delete":
		fmt.Fprintf(stdio.Err, "Remove or fix what blocks these resources, then run 'ecsworker infra delete %s' again.\n", failed.Stack)
	}
	return &clikit.CodedError{Code: clikit.ExitError, Err: err, Printed: true}
}

func writeInfraJSON(w io.Writer, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(w, string(b))
}

func printDeploy(stdio clikit.IO, asJSON bool, res *deployOutput) error {
	if asJSON {
		writeInfraJSON(stdio.Out, res)
		return nil
	}
	printStack(stdio.Out, res.Stack)
	return nil
}

func printStack(w io.Writer, s *cfnstack.Stack) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Stack:\t%s\n", s.Name)
	if s.Kind != "" {
		fmt.Fprintf(tw, "Type:\t%s\n", s.Kind)
	}
	if s.WorkPool != "" {
		fmt.Fprintf(tw, "Work pool:\t%s\n", s.WorkPool)
	}
	if s.Cluster != "" {
		fmt.Fprintf(tw, "Cluster:\t%s\n", s.Cluster)
	}
	fmt.Fprintf(tw, "Status:\t%s\n", s.Status)
	if s.StatusReason != "" && s.StatusReason != "User Initiated" {
		fmt.Fprintf(tw, "Reason:\t%s\n", s.StatusReason)
	}
	fmt.Fprintf(tw, "Created:\t%s\n", s.Created.UTC().Format(time.RFC3339))
	if s.Updated != nil {
		fmt.Fprintf(tw, "Updated:\t%s\n", s.Updated.UTC().Format(time.RFC3339))
	}
	_ = tw.Flush() // to the terminal, as the Fprintf calls: a failure has nowhere to go
	if len(s.Outputs) > 0 {
		fmt.Fprintln(w, "Outputs:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, o := range s.Outputs {
			fmt.Fprintf(tw, "  %s\t%s\n", o.Key, o.Value)
		}
		_ = tw.Flush()
	}
}

func dryRun(ctx context.Context, stdio clikit.IO, c *infra.Clients, asJSON bool, in cfnstack.DeployInput, warnings []string, image *infra.ImageCheck, extra map[string]any) error {
	action := "create"
	existing, err := cfnstack.DescribeStack(ctx, c.CFN, c.Region, in.StackName)
	var nf *cfnstack.NotFoundError
	switch {
	case errors.As(err, &nf):
	case err != nil:
		return &clikit.CodedError{Code: clikit.ExitError, Err: err}
	case !existing.Managed():
		return &clikit.CodedError{Code: clikit.ExitInvalid, Err: &cfnstack.NotManagedError{Stack: in.StackName}}
	case existing.Status == "ROLLBACK_COMPLETE" || existing.Status == "REVIEW_IN_PROGRESS":
		action = "delete the failed stack, then create"
	default:
		action = "update"
	}
	params := infra.ShowParameters(in.Parameters)
	if asJSON {
		p := map[string]string{}
		for _, kv := range params {
			p[kv[0]] = kv[1]
		}
		tags := map[string]string{}
		for _, t := range in.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		out := map[string]any{"dryRun": true, "stackName": in.StackName, "type": in.Kind, "region": c.Region,
			"action": action, "parameters": p, "tags": tags, "templateBytes": len(in.Template), "warnings": append([]string{}, warnings...)}
		if image != nil {
			out["imageCheck"] = image
		}
		for k, v := range extra {
			out[k] = v
		}
		writeInfraJSON(stdio.Out, out)
		return nil
	}
	fmt.Fprintf(stdio.Out, "Dry run: nothing was deployed. Would %s stack %s (%s) in %s with:\n", action, in.StackName, in.Kind, c.Region)
	tw := tabwriter.NewWriter(stdio.Out, 0, 0, 2, ' ', 0)
	for _, kv := range params {
		fmt.Fprintf(tw, "  %s\t%s\n", kv[0], kv[1])
	}
	_ = tw.Flush() // to the terminal, as the Fprintf calls: a failure has nowhere to go
	if image != nil {
		fmt.Fprintf(stdio.Out, "Image check: %s\n", image.Detail)
	}
	if v, ok := extra["jobVariables"]; ok {
		b, _ := json.Marshal(v)
		fmt.Fprintf(stdio.Out, "Job variables to use it: %s\n", b)
	}
	fmt.Fprintf(stdio.Out, "Template: %d bytes (see it with: ecsworker infra export-template --type %s)\n", len(in.Template), in.Kind)
	return nil
}

// fillPoolDefaults fills the pool's empty defaults from the stack's
// outputs. A failure here does not undo a successful deploy: it is
// reported with what to set by hand.
func fillPoolDefaults(ctx context.Context, stdio clikit.IO, api *clikit.APIFlags, pool string, s *cfnstack.Stack) *infra.FillResult {
	defaults := infra.PoolDefaults(s.OutputMap())
	if len(defaults) == 0 {
		return nil
	}
	manual := func(why string) *infra.FillResult {
		fmt.Fprintf(stdio.Err, "warning: the defaults of work pool %q were not filled: %s. Set them yourself (ecsworker work-pool update %s --base-job-template FILE):\n", pool, why, pool)
		for _, d := range defaults {
			fmt.Fprintf(stdio.Err, "  %s = %v\n", d.Variable, d.Value)
		}
		return nil
	}
	c, err := api.Client()
	if err != nil {
		return manual(err.Error())
	}
	wp, err := c.ReadWorkPool(ctx, pool)
	if errors.Is(err, prefect.ErrNotFound) {
		return manual("the pool does not exist yet (the worker creates it when it starts; deploy again then, or create it first with 'ecsworker work-pool create " + pool + "')")
	}
	if err != nil {
		return manual(err.Error())
	}
	if wp.Type != clikit.PoolType {
		return manual(fmt.Sprintf("it is of type %q, not ecs", wp.Type))
	}
	if wp.BaseJobTemplate == nil || wp.BaseJobTemplate.GetObject("variables").GetObject("properties") == nil {
		return manual("its base job template has no variables")
	}
	res := infra.FillPoolDefaults(wp.BaseJobTemplate, defaults)
	if len(res.Filled) > 0 {
		if err := c.UpdateWorkPool(ctx, pool, prefectpool.WorkPoolUpdate{BaseJobTemplate: wp.BaseJobTemplate}); err != nil {
			return manual(err.Error())
		}
	}
	names := func(ds []infra.PoolDefault) string {
		var n []string
		for _, d := range ds {
			n = append(n, d.Variable)
		}
		return strings.Join(n, ", ")
	}
	switch {
	case len(res.Filled) > 0:
		fmt.Fprintf(stdio.Err, "Work pool %q: filled the defaults of %s.\n", pool, names(res.Filled))
	default:
		fmt.Fprintf(stdio.Err, "Work pool %q: its defaults were already set; nothing to fill.\n", pool)
	}
	if len(res.Kept) > 0 {
		fmt.Fprintf(stdio.Err, "Work pool %q: kept its own %s.\n", pool, names(res.Kept))
	}
	if len(res.Missing) > 0 {
		fmt.Fprintf(stdio.Err, "Work pool %q: its template has no variable %s, left as is.\n", pool, names(res.Missing))
	}
	return &res
}

func newInfraListCmd(stdio clikit.IO) *cobra.Command {
	var o clikit.AWSFlags
	var asJSON bool
	var format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the stacks ecsworker deployed in the region",
		Example: `  ecsworker infra list
  ecsworker infra list --aws-profile prod --region eu-west-1 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if format != "" && format != "table" && format != "json" {
				return clikit.Invalid("--format %q: use table or json", format)
			}
			asJSON = asJSON || format == "json"
			c, err := newClients(ctx, &o)
			if err != nil {
				return err
			}
			if err := preflight(ctx, clikit.IO{Err: io.Discard}, c); err != nil {
				return err
			}
			stacks, err := cfnstack.ListStacks(ctx, c.CFN)
			if err != nil {
				return &clikit.CodedError{Code: clikit.ExitError, Err: err}
			}
			if asJSON {
				if stacks == nil {
					stacks = []*cfnstack.Stack{}
				}
				writeInfraJSON(stdio.Out, stacks)
				return nil
			}
			if len(stacks) == 0 {
				fmt.Fprintf(stdio.Err, "No stacks deployed by ecsworker in %s.\n", c.Region)
				return nil
			}
			tw := tabwriter.NewWriter(stdio.Out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tTYPE\tWORK POOL\tSTATUS\tUPDATED")
			for _, s := range stacks {
				when := s.Created
				if s.Updated != nil {
					when = *s.Updated
				}
				pool := s.WorkPool
				if s.Kind == cfnstack.KindCapacity {
					pool = "(cluster " + s.Cluster + ")"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.Kind, pool, s.Status, when.UTC().Format("2006-01-02 15:04 UTC"))
			}
			return tw.Flush()
		},
	}
	o.Register(cmd.Flags())
	o.AWSOnly(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&format, "format", "", "table or json (as prefect-aws)")
	_ = cmd.Flags().MarkHidden("format")
	return cmd
}

func newInfraStatusCmd(stdio clikit.IO) *cobra.Command {
	var o clikit.AWSFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status STACK",
		Short: "Show a stack ecsworker deployed: status, outputs, and why its last operation failed",
		Example: `  ecsworker infra status ecsworker-my-pool
  ecsworker infra status ecsworker-my-pool --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := newClients(ctx, &o)
			if err != nil {
				return err
			}
			if err := preflight(ctx, clikit.IO{Err: io.Discard}, c); err != nil {
				return err
			}
			s, err := cfnstack.ManagedStack(ctx, c.CFN, c.Region, args[0])
			if err != nil {
				return &clikit.CodedError{Code: clikit.ExitError, Err: err}
			}
			var failures []cfnstack.ResourceFailure
			if !cfnstack.Succeeded(s.Status) {
				if evs, err := cfnstack.RecentEvents(ctx, c.CFN, s.ID); err == nil {
					failures = cfnstack.Failures(evs)
				}
			}
			if asJSON {
				writeInfraJSON(stdio.Out, map[string]any{"stack": s, "failures": append([]cfnstack.ResourceFailure{}, failures...)})
				return nil
			}
			printStack(stdio.Out, s)
			if len(failures) > 0 {
				fmt.Fprintln(stdio.Out, "Failures of the last operation:")
				for _, f := range failures {
					fmt.Fprintf(stdio.Out, "  %s (%s) %s: %s\n", f.LogicalID, f.Type, f.Status, f.Reason)
				}
			}
			return nil
		},
	}
	o.Register(cmd.Flags())
	o.AWSOnly(cmd.Flags())
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newInfraDeleteCmd(stdio clikit.IO) *cobra.Command {
	var o clikit.AWSFlags
	var yes, wait, noWait, asJSON bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "delete STACK",
		Short: "Delete a stack ecsworker deployed",
		Long: `Delete a stack ecsworker deployed, following its events until it is gone. The
worker's log group is kept (delete it with 'aws logs delete-log-group'), and so are
the work pool defaults the deploy filled: change them before the pool's next run if
they point at this stack's resources. Asks for confirmation on a terminal; elsewhere
(scripts, cron jobs, CI) --yes is required.`,
		Example: `  ecsworker infra delete ecsworker-my-pool
  ecsworker infra delete ecsworker-my-pool --yes --no-wait`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := args[0]
			c, err := newClients(ctx, &o)
			if err != nil {
				return err
			}
			if err := preflight(ctx, clikit.IO{Err: io.Discard}, c); err != nil {
				return err
			}
			s, err := cfnstack.ManagedStack(ctx, c.CFN, c.Region, name)
			if err != nil {
				return &clikit.CodedError{Code: clikit.ExitError, Err: err}
			}
			if !yes {
				owner := "work pool " + s.WorkPool
				if s.Kind == cfnstack.KindCapacity {
					owner = "cluster " + s.Cluster
				}
				if err := clikit.Confirm(stdio, "deleting stack "+name, fmt.Sprintf("Delete stack %s (%s, %s) in %s?", name, s.Kind, owner, c.Region)); err != nil {
					return err
				}
			}
			logGroup := s.OutputMap()["WorkerLogGroupName"]
			d := &cfnstack.Deployer{CFN: c.CFN, Region: c.Region, Clock: infraClock, Progress: progressFor(stdio), Timeout: timeout}
			final, err := d.Delete(ctx, s, wait && !noWait)
			if err != nil {
				return deployError(stdio, asJSON, err)
			}
			if asJSON {
				writeInfraJSON(stdio.Out, map[string]any{"stack": final, "retainedLogGroup": logGroup})
				return nil
			}
			if wait && !noWait {
				fmt.Fprintf(stdio.Err, "Stack %s deleted.\n", name)
				if logGroup != "" {
					fmt.Fprintf(stdio.Err, "Kept the worker's log group %s; delete it with: aws logs delete-log-group --log-group-name %s --region %s\n", logGroup, logGroup, c.Region)
				}
				if s.Kind == cfnstack.KindService {
					fmt.Fprintf(stdio.Err, "Work pool %q may still default to this stack's security group, execution role and secrets: update its defaults before its next flow run.\n", s.WorkPool)
				}
				if s.Kind == cfnstack.KindCapacity {
					fmt.Fprintf(stdio.Err, "Capacity provider %s is gone: deployments whose capacity_provider_strategy names it fail to start until they use another. Check cluster %s's providers with: aws ecs describe-clusters --clusters %s --region %s\n", s.OutputMap()["CapacityProviderName"], s.Cluster, s.Cluster, c.Region)
				}
			} else {
				fmt.Fprintf(stdio.Err, "Stack %s: deletion started (%s). Follow it with: ecsworker infra status %s\n", name, final.Status, final.ID)
			}
			return nil
		},
	}
	o.Register(cmd.Flags())
	o.AWSOnly(cmd.Flags())
	f := cmd.Flags()
	f.BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation (required when standard input is not a terminal)")
	f.BoolVar(&wait, "wait", true, "follow the deletion until the stack is gone")
	f.BoolVar(&noWait, "no-wait", false, "return once the deletion has started")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	f.DurationVar(&timeout, "timeout", time.Hour, "give up waiting after this long")
	f.SetNormalizeFunc(upstreamNames)
	return cmd
}

func newExportTemplateCmd(stdio clikit.IO) *cobra.Command {
	var typ, output, image string
	cmd := &cobra.Command{
		Use:   "export-template",
		Short: "Write a CloudFormation template, to review it or deploy it with other tools",
		Long: `Write the template deploy-service (--type service), deploy-events (--type events) or
deploy-capacity (--type capacity) deploys, as JSON CloudFormation. No AWS access is
needed. The capacity template's ClusterAssociation lists only the new capacity provider:
deploy-capacity writes the cluster's own providers and default strategy beside it, since
the association replaces the cluster's whole list; add them before deploying it otherwise.`,
		Example: `  ecsworker infra export-template --type service --output ecsworker-service.json
  aws cloudformation deploy --template-file ecsworker-service.json --stack-name ecsworker-my-pool \
    --capabilities CAPABILITY_IAM --parameter-overrides WorkPoolName=my-pool \
    ClusterArn=arn:aws:ecs:us-east-1:123456789012:cluster/prod VpcId=vpc-0abc12345 \
    SubnetIds=subnet-0a1b2c3d PrefectApiUrl=https://api.prefect.cloud/api/accounts/.../workspaces/... \
    PrefectApiKeySecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:prefect-key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kind, err := cfnstack.ParseKind(typ)
			if err != nil {
				return clikit.Invalid("--type: %v", err)
			}
			if image == "" && kind == cfnstack.KindService {
				return noImage("", "ecsworker infra export-template --type service")
			}
			data, err := infra.Pretty(kind, image)
			if err != nil {
				return err
			}
			if output == "" || output == "-" {
				_, err := stdio.Out.Write(data)
				return err
			}
			if dir := dirOf(output); dir != "" {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					return clikit.Invalid("--output %s: cannot create its directory: %v", output, err)
				}
			}
			if err := os.WriteFile(output, data, 0o644); err != nil {
				return clikit.Invalid("--output %s: %v", output, err)
			}
			fmt.Fprintf(stdio.Err, "Wrote the %s template to %s. Deploy it with 'aws cloudformation deploy --template-file %s --stack-name NAME --capabilities CAPABILITY_IAM --parameter-overrides ...', or with ecsworker infra deploy-%s.\n", kind, output, output, kind)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&typ, "type", "service", "service, events or capacity")
	f.StringVarP(&output, "output", "o", "", "file to write (default: standard output)")
	f.StringVar(&image, "image", defaultWorkerImage(), "default of the template's Image parameter: "+imageHelp)
	f.SetNormalizeFunc(upstreamNames)
	return cmd
}

func dirOf(path string) string {
	i := strings.LastIndexAny(path, `/\`)
	if i <= 0 {
		return ""
	}
	return path[:i]
}

// newHealthcheckCmd is the worker image's health probe: distroless has no
// curl or shell, so the binary checks its own /health endpoint, for the
// Dockerfile's HEALTHCHECK and the ECS container health check.
func newHealthcheckCmd(stdio clikit.IO) *cobra.Command {
	var url string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:    "healthcheck",
		Short:  "Exit 0 if the worker's health endpoint answers 200",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return clikit.Invalid("--url %q: %v", url, err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return &clikit.CodedError{Code: clikit.ExitError, Err: fmt.Errorf("unhealthy: %w", err)}
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			if resp.StatusCode != http.StatusOK {
				return &clikit.CodedError{Code: clikit.ExitError, Err: fmt.Errorf("unhealthy: %s answered %d: %s", url, resp.StatusCode, strings.TrimSpace(string(body)))}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://127.0.0.1:8080/health", "health endpoint of the worker (worker start --with-healthcheck)")
	cmd.Flags().DurationVar(&timeout, "timeout", 4*time.Second, "give up after this long")
	return cmd
}
