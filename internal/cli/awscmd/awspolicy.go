// Package awscmd holds the commands about the AWS account the jobs run in:
// aws-policy (the least IAM policy of a pool's deployments), doctor (their
// pre-flight check) and task-definitions prune.
package awscmd

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ecsworker/ecsworker/internal/awscreds"
	"github.com/ecsworker/ecsworker/internal/cli/clikit"
	"github.com/ecsworker/ecsworker/internal/cli/rendercmd"
	"github.com/ecsworker/ecsworker/internal/ecsjob"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/iampolicy"
	"github.com/ecsworker/ecsworker/internal/infra"
	"github.com/ecsworker/ecsworker/internal/jobconfig"
	"github.com/ecsworker/ecsworker/internal/jobtemplate"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/prefect"
	"github.com/ecsworker/ecsworker/internal/prefectdeploy"
	"github.com/ecsworker/ecsworker/internal/redact"
)

// poolJobs are the flags of aws-policy and doctor that choose the jobs
// they look at: a pool's deployments, the events queue and the region.
type poolJobs struct {
	pool        string
	deployments []string
	eventsQueue string
	region      string
}

// register adds the flags; eventsQueueUse says, after "the worker reads
// with --events-queue", what the command does with the queue.
func (o *poolJobs) register(f *pflag.FlagSet, eventsQueueUse string) {
	f.StringVar(&o.pool, "pool", "", "work pool `NAME` (required)")
	f.StringArrayVar(&o.deployments, "deployment", nil, "deployment as FLOW/DEPLOYMENT or id, repeatable (default: every deployment of the pool)")
	f.StringVar(&o.eventsQueue, "events-queue", os.Getenv("PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME"), "SQS `QUEUE` (name, URL or ARN) the worker reads with --events-queue"+eventsQueueUse+" (default: PREFECT_INTEGRATIONS_AWS_ECS_OBSERVER_SQS_QUEUE_NAME)")
	f.StringVar(&o.region, "region", "", "AWS `REGION` (default: the aws_credentials block's region_name, else AWS_REGION or AWS_DEFAULT_REGION)")
}

type awsPolicyOptions struct {
	poolJobs
	account string
	asJSON  bool
}

// NewAWSPolicy is `ecsworker aws-policy`: the least IAM policy for what
// a pool's deployments make the worker do in AWS.
func NewAWSPolicy(stdio clikit.IO, api *clikit.APIFlags) *cobra.Command {
	o := awsPolicyOptions{}
	cmd := &cobra.Command{
		Use:   "aws-policy",
		Short: "Print the least IAM policy the worker needs for a pool's deployments",
		Long: `Read a work pool and its deployments from the Prefect API, render each
deployment's job the way the worker does (without a flow run), and print the
least-privilege IAM policy for what the worker will do in AWS: which families it
registers, where it runs and tags tasks, which roles it passes, which subnets it
looks up, which log groups it reads and which events queue it consumes. The
document is ready for 'aws iam put-role-policy --policy-document file://...'.

Deployments whose aws_credentials blocks differ run as different AWS identities:
--json prints one policy per identity; otherwise pick deployments of one identity
with --deployment. A block that assumes a role needs sts:AssumeRole for the
identity the worker starts as, which is printed too.

Nothing is sent to AWS. Variables a flow run overrides when it is created cannot
be known here. Messages go to stderr, the policy to stdout; an invalid deployment
is reported with its problems and exit code 2.`,
		Example: `  # The policy for every deployment of a pool
  ecsworker aws-policy --pool my-pool > policy.json
  aws iam put-role-policy --role-name prefect-worker --policy-name ecsworker \
    --policy-document file://policy.json

  # Two deployments, with the events queue, for account 123456789012
  ecsworker aws-policy --pool my-pool --deployment etl/nightly --deployment etl/hourly \
    --events-queue ecsworker-events --account 123456789012

  # One policy per AWS identity, as JSON
  ecsworker aws-policy --pool my-pool --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAWSPolicy(cmd.Context(), stdio, api, o)
		},
	}
	f := cmd.Flags()
	o.register(f, "")
	f.StringVar(&o.account, "account", "", "AWS account `ID` of the resources (default: the account of the ARNs the jobs name, else *)")
	f.BoolVar(&o.asJSON, "json", false, "print every AWS identity's policy as JSON")
	return cmd
}

// renderedJob is one deployment's job as the policy sees it.
type renderedJob struct {
	label    string // FLOW/DEPLOYMENT
	usage    iampolicy.Usage
	identity identity
	// taskDefinition is task_definition_arn, whose roles and logs are only
	// known to AWS.
	taskDefinition string
	// plan is the rendered job and creds its aws_credentials block, which
	// doctor checks as the worker will run them.
	plan  *ecsrequest.Plan
	creds awscreds.Credentials
}

// identity is who calls AWS for a job: the aws_credentials block's keys or
// profile (or the worker's own credentials), and the role it assumes.
// Secrets are not part of it: an access key id names the identity.
type identity struct {
	accessKeyID, profile, role string
}

// base is the identity that assumes the role.
func (i identity) base() identity { return identity{accessKeyID: i.accessKeyID, profile: i.profile} }

func (i identity) own() bool { return i == identity{} }

// String describes the identity without its secrets: the access key id is
// cut to the prefix that tells long-term from temporary keys, with a short
// hash of the whole id to tell two keys apart.
func (i identity) String() string {
	var s string
	switch {
	case i.accessKeyID != "":
		sum := sha256.Sum256([]byte(i.accessKeyID))
		s = "access key " + i.accessKeyID[:min(4, len(i.accessKeyID))] + "**** (#" + hex.EncodeToString(sum[:4]) + ")"
	case i.profile != "":
		s = "profile " + strconv.Quote(i.profile)
	default:
		s = "the worker's own AWS credentials (default chain)"
	}
	if i.role != "" {
		s += " assuming " + i.role
	}
	return s
}

func runAWSPolicy(ctx context.Context, stdio clikit.IO, api *clikit.APIFlags, o awsPolicyOptions) error {
	if o.pool == "" {
		return clikit.Invalid("--pool is required: give the name of the work pool whose deployments the worker runs")
	}
	c, err := api.Client()
	if err != nil {
		return err
	}
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }
	note("flow runs can override job variables (cluster, roles, task_definition_arn, ...) when they are created; such overrides cannot be known here, and runs that use them may need more than this policy allows")
	jobs, err := renderPoolJobs(ctx, stdio, c, o, note)
	if err != nil {
		return err
	}

	var unknownRegion, byARN []string
	for _, j := range jobs {
		if j.usage.Region == "" {
			unknownRegion = append(unknownRegion, j.label)
		}
		if j.taskDefinition != "" {
			byARN = append(byARN, j.label+" ("+j.taskDefinition+")")
		}
	}
	if len(unknownRegion) > 0 {
		note("the AWS region is unknown for %s, so their ARNs have * in its place; give --region, or set region_name in their aws_credentials block", strings.Join(unknownRegion, ", "))
	}
	if len(byARN) > 0 {
		note("these deployments run existing task definitions, whose roles and log groups only AWS knows: %s; if those task definitions have an execution or task role, allow iam:PassRole on it, and if they log with awslogs, logs:GetLogEvents on the group", strings.Join(byARN, ", "))
	}

	entries, err := policyEntries(jobs, o, note)
	if err != nil {
		var ie iampolicy.InputErrors
		if errors.As(err, &ie) {
			return &clikit.CodedError{Code: clikit.ExitInvalid, Err: err}
		}
		return err
	}
	return printPolicies(stdio, o, entries, notes)
}

// renderPoolJobs renders the job of every deployment of o.pool (those
// o.deployments names, if any), or the pool's default job when it has no
// deployments, as the worker will, without a flow run; sorted by label.
// The problems of jobs that do not validate go to stderr, and make it
// fail with exit code 2.
func renderPoolJobs(ctx context.Context, stdio clikit.IO, c *prefect.Client, o awsPolicyOptions, note func(string, ...any)) ([]renderedJob, error) {
	pool, err := clikit.ReadECSPool(ctx, c, o.pool)
	if err != nil {
		return nil, err
	}
	tmpl, source, err := rendercmd.ChooseTemplate(&clikit.Inputs{Stdin: stdio.In}, "", pool.Raw)
	if err != nil {
		return nil, err
	}
	if source != "" {
		fmt.Fprintf(stdio.Err, "note: work pool %q has no base job template; using ecsworker's default\n", o.pool)
	}
	deployments, err := policyDeployments(ctx, c, o)
	if err != nil {
		return nil, err
	}

	var jobs []renderedJob
	var invalidJobs []string
	flows := map[string]string{}
	if len(deployments) == 0 {
		note("work pool %q has no deployments: the policy is for its default job, in the families %s that its deployments register by default", o.pool, infra.DefaultFamilyPattern(o.pool))
		deployments = []*prefectdeploy.Deployment{nil}
	}
	for _, d := range deployments {
		label := "(pool default)"
		if d != nil {
			flowName, ok := flows[d.FlowID]
			if !ok {
				f, err := c.ReadFlow(ctx, d.FlowID)
				if err != nil {
					return nil, err
				}
				flowName = f.Name
				flows[d.FlowID] = flowName
			}
			label = flowName + "/" + d.Name
		}
		j, problems, err := renderPolicyJob(ctx, stdio, c, tmpl, o, pool.Name, label, d)
		if err != nil {
			return nil, err
		}
		if problems != "" {
			invalidJobs = append(invalidJobs, label)
			fmt.Fprintf(stdio.Err, "%s: %s\n", label, redact.String(problems, clikit.SecretEnvValues()...))
			continue
		}
		jobs = append(jobs, j)
	}
	if len(invalidJobs) > 0 {
		fmt.Fprintf(stdio.Err, "Error: %d of %d deployments do not validate (%s); fix them, or leave them out with --deployment\n", len(invalidJobs), len(deployments), strings.Join(invalidJobs, ", "))
		return nil, &clikit.CodedError{Code: clikit.ExitInvalid, Err: fmt.Errorf("%d deployments do not validate", len(invalidJobs)), Printed: true}
	}
	slices.SortFunc(jobs, func(a, b renderedJob) int { return cmp.Compare(a.label, b.label) })
	return jobs, nil
}

// policyDeployments reads the deployments named by --deployment, or every
// deployment of the pool.
func policyDeployments(ctx context.Context, c *prefect.Client, o awsPolicyOptions) ([]*prefectdeploy.Deployment, error) {
	if len(o.deployments) == 0 {
		list, err := c.ListDeployments(ctx, prefectdeploy.DeploymentFilter{WorkPools: []string{o.pool}})
		if err != nil {
			return nil, err
		}
		out := make([]*prefectdeploy.Deployment, len(list))
		for i := range list {
			out[i] = &list[i]
		}
		return out, nil
	}
	var out []*prefectdeploy.Deployment
	for _, v := range o.deployments {
		d, err := clikit.ReadDeployment(ctx, c, v, "FLOW_NAME/DEPLOYMENT_NAME or the deployment's id")
		if err != nil {
			return nil, err
		}
		if d.WorkPoolName != o.pool {
			return nil, clikit.Invalid("--deployment %q: it runs in work pool %q, not %q; give the deployments of --pool %s", v, d.WorkPoolName, o.pool, o.pool)
		}
		if !slices.ContainsFunc(out, func(e *prefectdeploy.Deployment) bool { return e.ID == d.ID }) {
			out = append(out, d)
		}
	}
	return out, nil
}

// renderPolicyJob renders a deployment's job as the worker would, without
// a flow run, and reads what it does in AWS. problems is non-empty when
// the job does not validate; err is for failures to reach Prefect.
func renderPolicyJob(ctx context.Context, stdio clikit.IO, c *prefect.Client, tmpl *jobtemplate.Template, o awsPolicyOptions, poolName, label string, d *prefectdeploy.Deployment) (renderedJob, string, error) {
	job := ecsjob.Job{
		Render:   jobtemplate.RenderOptions{Resolver: c.TemplateResolver()},
		Template: tmpl,
		Context:  ecsrequest.RunContext{WorkPoolName: poolName, Region: o.region, DefaultImage: clikit.DefaultImage},
	}
	if d != nil {
		job.DeploymentVariables = d.JobVariables
		job.Context.DeploymentID, job.Context.FlowID = d.ID, d.FlowID
	}
	prepared, err := ecsjob.Prepare(ctx, job)
	var verr *jobconfig.ValidationError
	switch {
	case errors.As(err, &verr):
		return renderedJob{}, verr.Error(), nil
	case err != nil:
		return renderedJob{}, "", err
	}
	for _, w := range prepared.Warnings {
		fmt.Fprintf(stdio.Err, "warning: %s: %s\n", label, redact.String(w.String(), clikit.SecretEnvValues()...))
	}
	creds, err := awscreds.CredentialsFromBlock(prepared.JobConfiguration.GetObject("aws_credentials"))
	if err != nil {
		return renderedJob{}, err.Error(), nil
	}
	region := cmp.Or(o.region, creds.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"))
	plan := prepared.Plan
	if d == nil && plan.TaskDefinition != nil && plan.TaskDefinition.GetString("family") == ecsrequest.MarkFamily {
		// Without a deployment the default family is every deployment's.
		plan.TaskDefinition.Set("family", infra.DefaultFamilyPattern(poolName))
	}
	// Unnamed here, since the caller prefixes every problem with the label.
	u, err := iampolicy.FromPlan("", region, plan)
	if err != nil {
		return renderedJob{}, err.Error(), nil
	}
	u.Name = label
	return renderedJob{
		label:          label,
		usage:          u,
		identity:       identity{accessKeyID: creds.AccessKeyID, profile: creds.Profile, role: creds.AssumeRoleARN},
		taskDefinition: plan.TaskDefinitionARN,
		plan:           plan,
		creds:          creds,
	}, "", nil
}

// policyEntry is one identity's policy.
type policyEntry struct {
	identity    identity
	deployments []string
	purposes    []string // why an identity that runs no deployment needs a policy
	policy      *iampolicy.Policy
	// needs, account and region are what the policy was written from
	// (account "" when unknown: * in the ARNs).
	needs           iampolicy.Needs
	account, region string
}

// policyEntries groups the jobs by identity and writes each identity's
// policy. Identities that run no job but assume roles for others, or read
// the events queue, get an entry of their own.
func policyEntries(jobs []renderedJob, o awsPolicyOptions, note func(string, ...any)) ([]*policyEntry, error) {
	type group struct {
		entry *policyEntry
		needs iampolicy.Needs
		arns  []string
	}
	var groups []*group
	groupOf := func(id identity) *group {
		for _, g := range groups {
			if g.entry.identity == id {
				return g
			}
		}
		g := &group{entry: &policyEntry{identity: id, deployments: []string{}}}
		if id.role != "" {
			// An assumed role is in its own account.
			g.arns = append(g.arns, id.role)
		}
		groups = append(groups, g)
		return g
	}
	for _, j := range jobs {
		g := groupOf(j.identity)
		g.entry.deployments = append(g.entry.deployments, j.label)
		g.needs.Jobs = append(g.needs.Jobs, j.usage)
		g.arns = append(g.arns, j.usage.ARNs()...)
	}
	for _, j := range jobs {
		if j.identity.role == "" {
			continue
		}
		g := groupOf(j.identity.base())
		if !slices.Contains(g.needs.AssumeRoles, j.identity.role) {
			g.needs.AssumeRoles = append(g.needs.AssumeRoles, j.identity.role)
			g.entry.purposes = append(g.entry.purposes, "assume "+j.identity.role+" for "+strings.Join(deploymentsOf(jobs, j.identity), ", "))
		}
	}
	if o.eventsQueue != "" {
		// The worker reads the queue with the credentials it starts with.
		g := groupOf(identity{})
		g.needs.EventsQueue = o.eventsQueue
		g.entry.purposes = append(g.entry.purposes, "read the events queue "+o.eventsQueue)
		g.arns = append(g.arns, o.eventsQueue)
	}

	for _, g := range groups {
		account, others := o.account, []string(nil)
		if account == "" {
			account, others = iampolicy.AccountOf(g.arns...)
		}
		switch {
		case account == "" && (len(g.needs.Jobs) > 0 || g.needs.EventsQueue != ""):
			note("the AWS account is unknown for %s, so its policy has * in its place in ARNs; give --account", g.entry.identity)
		case len(others) > 0:
			note("the jobs of %s name ARNs in accounts %s and %s; its policy uses %s for the resources they name without an ARN; give --account to choose", g.entry.identity, account, strings.Join(others, ", "), account)
		}
		region := o.region
		if g.entry.identity.own() {
			region = cmp.Or(region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"))
		}
		for _, u := range g.needs.Jobs {
			region = cmp.Or(region, u.Region)
		}
		p, err := iampolicy.Generate(g.needs, iampolicy.Literal{Region: region, Account: account})
		if err != nil {
			return nil, err
		}
		if p.Size() > iampolicy.MaxInlineRolePolicy {
			note("the policy of %s has %d characters, more than the %d IAM allows in a role's inline policies; split its deployments over several policies with --deployment, or write the pattern %s in place of the default families", g.entry.identity, p.Size(), iampolicy.MaxInlineRolePolicy, infra.DefaultFamilyPattern(o.pool))
		}
		g.entry.policy = p
		g.entry.needs, g.entry.account, g.entry.region = g.needs, account, region
	}
	out := make([]*policyEntry, len(groups))
	for i, g := range groups {
		out[i] = g.entry
	}
	// Identities that run deployments first, each group by description.
	slices.SortStableFunc(out, func(a, b *policyEntry) int {
		if (len(a.deployments) == 0) != (len(b.deployments) == 0) {
			if len(a.deployments) > 0 {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.identity.String(), b.identity.String())
	})
	return out, nil
}

func deploymentsOf(jobs []renderedJob, id identity) []string {
	var out []string
	for _, j := range jobs {
		if j.identity == id {
			out = append(out, j.label)
		}
	}
	return out
}

func printPolicies(stdio clikit.IO, o awsPolicyOptions, entries []*policyEntry, notes []string) error {
	var running []*policyEntry
	for _, e := range entries {
		if len(e.deployments) > 0 {
			running = append(running, e)
		}
	}
	if o.asJSON {
		for _, n := range notes {
			fmt.Fprintln(stdio.Err, "note: "+n)
		}
		list := make([]any, len(entries))
		for i, e := range entries {
			obj := jsonv.ObjectOf("credentials", e.identity.String(), "deployments", toAnyStrings(e.deployments))
			if len(e.purposes) > 0 {
				obj.Set("purpose", strings.Join(e.purposes, "; "))
			}
			obj.Set("policy", e.policy.Document())
			list[i] = obj
		}
		return clikit.WriteJSON(stdio.Out, jsonv.ObjectOf("identities", list, "notes", toAnyStrings(notes)))
	}
	if len(running) > 1 {
		var b strings.Builder
		fmt.Fprintf(&b, "the deployments run as %d different AWS identities, which need different policies:\n", len(running))
		for _, e := range running {
			fmt.Fprintf(&b, "  %s: %s\n", e.identity, strings.Join(e.deployments, ", "))
		}
		b.WriteString("Pick the deployments of one identity with --deployment, or print every identity's policy with --json")
		return clikit.Invalid("%s", b.String())
	}
	for _, n := range notes {
		fmt.Fprintln(stdio.Err, "note: "+n)
	}
	for _, e := range entries {
		if e == running[0] {
			continue
		}
		doc, err := jsonv.Marshal(e.policy.Document())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdio.Err, "note: %s also needs this policy, to %s: %s\n", e.identity, strings.Join(e.purposes, " and "), doc)
	}
	return clikit.WriteJSON(stdio.Out, running[0].policy.Document())
}

func toAnyStrings(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
