// Package launch starts flow runs' ECS tasks: it ensures the task
// definition (through internal/taskdef), resolves the task's network with
// EC2, and calls RunTask idempotently under a client token derived from the
// flow run and its claim, retrying capacity shortages and throttling and
// explaining refusals in the worker's words. It also stops a run's task and
// reads the "<cluster>::<taskArn>" identifier that Prefect keeps for it,
// and fills the region into a plan (FillRegion).
package launch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/ecsworker/ecsworker/internal/awsclient"
	"github.com/ecsworker/ecsworker/internal/awserr"
	"github.com/ecsworker/ecsworker/internal/backoff"
	"github.com/ecsworker/ecsworker/internal/ecsrequest"
	"github.com/ecsworker/ecsworker/internal/ecsshape"
	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/taskdef"
)

// DeregisterTaskDefinitionTag asks the Python worker's observer (and ours)
// to deregister a task's task definition when the task stops. The key is
// misspelt ("degregister") in the observer, and so here.
const DeregisterTaskDefinitionTag = "prefect.io/degregister-task-definition"

// Backoff is an exponential backoff: Base before the first retry, doubling
// up to Max, with jitter.
type Backoff struct {
	Base, Max time.Duration
}

// Options configure a Launcher.
type Options struct {
	// CapacityRetries is how many times RunTask is retried when there is no
	// capacity (RESOURCE:*, "Capacity is unavailable", no container
	// instances); default 5, negative for none. A plan that FallsBack to
	// a later capacity step is not retried. CapacityBackoff defaults to
	// 5s doubling to 60s.
	CapacityRetries int
	CapacityBackoff Backoff
	// ThrottleRetries is how many times RunTask is retried when throttled
	// after the SDK's own retries; default 5, negative for none.
	// ThrottleBackoff defaults to
	// 1s doubling to 20s.
	ThrottleRetries int
	ThrottleBackoff Backoff
	// NetworkCacheTTL is how long the subnets found for a VPC are reused;
	// default 5 minutes.
	NetworkCacheTTL time.Duration
	// Sleep waits between retries; Clock tells the time. Tests replace them.
	Sleep func(ctx context.Context, d time.Duration) error
	Clock func() time.Time
}

// Launched is a started task.
type Launched struct {
	TaskARN    string
	ClusterARN string
	// Identifier is the flow run's infrastructure_pid,
	// "<cluster>::<taskArn>" where cluster is the plan's cluster as the user
	// gave it, or the cluster ARN when none was given (as the Python worker).
	Identifier        string
	TaskDefinitionARN string
	// Registered is true when this launch registered the task definition.
	Registered bool
	// Attempts is how many RunTask calls were made.
	Attempts int
	// Warnings are things the caller should tell the user.
	Warnings []string
	// Step is the capacity fallback step the task was started on (0: the
	// plan's own launch choice), and Capacity its name ("FARGATE_SPOT",
	// "FARGATE", "EC2", a provider's name). The caller that walks the
	// steps sets them.
	Step     int
	Capacity string
	// Answered is when ECS answered the RunTask call that started the
	// task: the end of the run's queueing phase, taken before the caller
	// makes any call of its own.
	Answered time.Time
}

// Launcher starts flow runs' ECS tasks: it ensures the task definition,
// resolves the network, and calls RunTask idempotently, retrying capacity
// shortages and throttling with backoff.
type Launcher struct {
	clients *awsclient.Clients
	ecs     awsclient.ECSAPI
	tds     *taskdef.Registry
	opts    Options

	netMu    sync.Mutex
	netCache map[string]netEntry
	// netFlight merges simultaneous lookups of one VPC's subnets: a burst
	// of runs would otherwise each ask EC2 and queue on its budget.
	netFlight awsclient.FlightGroup[string, []string]
}

type netEntry struct {
	subnets []string
	expires time.Time
}

// NewLauncher returns a Launcher for clients. tds may be nil (the Launcher
// then makes its own). The clients of a Factory already wait for its
// budget: the Launcher adds no wait of its own.
func NewLauncher(clients *awsclient.Clients, tds *taskdef.Registry, opts Options) *Launcher {
	if opts.CapacityRetries == 0 {
		opts.CapacityRetries = 5
	}
	if opts.CapacityBackoff.Base <= 0 {
		opts.CapacityBackoff.Base = 5 * time.Second
	}
	if opts.CapacityBackoff.Max <= 0 {
		opts.CapacityBackoff.Max = 60 * time.Second
	}
	if opts.ThrottleRetries == 0 {
		opts.ThrottleRetries = 5
	}
	if opts.ThrottleBackoff.Base <= 0 {
		opts.ThrottleBackoff.Base = time.Second
	}
	if opts.ThrottleBackoff.Max <= 0 {
		opts.ThrottleBackoff.Max = 20 * time.Second
	}
	if opts.NetworkCacheTTL <= 0 {
		opts.NetworkCacheTTL = 5 * time.Minute
	}
	if opts.Sleep == nil {
		opts.Sleep = backoff.Sleep
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	api := clients.ECS
	if tds == nil {
		tds = taskdef.NewRegistry(api, taskdef.Options{Clock: opts.Clock, Sleep: opts.Sleep})
	}
	return &Launcher{clients: clients, ecs: api, tds: tds, opts: opts, netCache: map[string]netEntry{}}
}

// ClientToken derives RunTask's clientToken from a flow run and the claim
// under which the worker submits it: the same pair always gives the same
// token, so a launch that is retried or repeated (after a timeout, or a
// worker restart) can never start a second task. The token is at most 64
// printable ASCII characters, as ECS requires: the flow run id, when it is
// short and plain, followed by a hash of both.
func ClientToken(flowRunID, claimID string) string {
	sum := sha256.Sum256([]byte(flowRunID + "\x00" + claimID))
	h := hex.EncodeToString(sum[:])
	if flowRunID == "" || len(flowRunID) > 40 || !plainToken(flowRunID) {
		return h // 64 characters
	}
	return flowRunID + "." + h[:63-len(flowRunID)]
}

// StepToken is the client token of capacity fallback step k of a claim
// (ecsrequest.Plan.Steps): step 0 keeps ClientToken exactly, so runs
// without a fallback launch as they always did; a later step hashes k in
// too, so each step's RunTask is idempotent on its own, and a step's
// token can never return the task another step started.
func StepToken(flowRunID, claimID string, step int) string {
	if step == 0 {
		return ClientToken(flowRunID, claimID)
	}
	sum := sha256.Sum256([]byte(flowRunID + "\x00" + claimID + "\x00capacity-step\x00" + strconv.Itoa(step)))
	h := hex.EncodeToString(sum[:])
	if flowRunID == "" || len(flowRunID) > 40 || !plainToken(flowRunID) {
		return h
	}
	return flowRunID + "." + h[:63-len(flowRunID)]
}

func plainToken(s string) bool {
	for _, r := range s {
		if !isPlainRune(r) {
			return false
		}
	}
	return true
}

// isPlainRune reports a rune a flow run id may show in a client token.
func isPlainRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

func validClientToken(token string) error {
	if token == "" || len(token) > 64 {
		return fmt.Errorf("client token %q must be 1 to 64 characters; derive it with ClientToken(flowRunID, claimID)", token)
	}
	for _, r := range token {
		if r < 33 || r > 126 {
			return fmt.Errorf("client token %q may only hold printable ASCII characters without spaces; derive it with ClientToken(flowRunID, claimID)", token)
		}
	}
	return nil
}

// Launch starts the task of plan. token is RunTask's clientToken (see
// ClientToken): every RunTask call of this launch, and of any repeat of it
// with the same token, carries it, so ECS starts at most one task.
func (l *Launcher) Launch(ctx context.Context, plan *ecsrequest.Plan, token string) (*Launched, error) {
	if plan == nil || plan.RunTask == nil {
		return nil, errors.New("launch: the plan has no RunTask request")
	}
	if err := validClientToken(token); err != nil {
		return nil, err
	}
	res := &Launched{TaskDefinitionARN: plan.TaskDefinitionARN}
	facts := l.facts(plan)

	var td *jsonv.Object
	if res.TaskDefinitionARN == "" {
		if plan.TaskDefinition == nil {
			return nil, errors.New("launch: the plan has neither a task definition nor a task definition ARN")
		}
		td = jsonv.CloneObject(plan.TaskDefinition)
		FillRegion(td, l.clients.Region)
		if err := checkResolved("RegisterTaskDefinition", "registerTaskDefinition", td); err != nil {
			return nil, err
		}
		arn, registered, err := l.tds.Ensure(ctx, td, taskdef.EnsureOptions{MatchLatestRevision: plan.MatchLatestRevision})
		if err != nil {
			return nil, err
		}
		res.TaskDefinitionARN, res.Registered = arn, registered
	}
	facts.TaskDefinition = res.TaskDefinitionARN

	req := jsonv.CloneObject(plan.RunTask)
	if v := req.GetString("taskDefinition"); v == "" || v == ecsrequest.MarkTaskDefinitionARN {
		req.Set("taskDefinition", res.TaskDefinitionARN)
	}
	subnets, err := l.subnets(ctx, plan.Network)
	if err != nil {
		return nil, err
	}
	if _, err := ApplySubnets(req, subnets); err != nil {
		return nil, err
	}
	FillRegion(req, l.clients.Region)
	if err := checkResolved("RunTask", "runTask", req); err != nil {
		return nil, err
	}
	facts.Subnets, facts.SecurityGroups = networkOf(req)
	if res.Registered && plan.AutoDeregister {
		res.Warnings = append(res.Warnings, addDeregisterTag(req)...)
	}

	input := &ecs.RunTaskInput{}
	if problems := ecsshape.Decode(req, input); len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.String()
		}
		return nil, &awserr.LaunchError{Kind: awserr.KindPermanent, Op: "RunTask", AWSMessage: "the request does not fit the ECS API: " + strings.Join(msgs, "; "),
			Fix: "Correct the work pool's task_run_request template or the job variables that fill it"}
	}
	input.ClientToken = aws.String(token)
	perms := l.clients.Permissions
	if !perms.Usable("ecs:TagResource", "") {
		res.Warnings = append(res.Warnings, dropTags(input)...)
	}

	capacity, throttles, reEnsured := 0, 0, false
	for {
		res.Attempts++
		out, err := l.ecs.RunTask(ctx, input)
		if err == nil {
			switch {
			case len(out.Failures) > 0:
				f := out.Failures[0]
				err = &awserr.RunTaskFailure{Arn: aws.ToString(f.Arn), Reason: aws.ToString(f.Reason), Detail: aws.ToString(f.Detail)}
			case len(out.Tasks) == 0 || out.Tasks[0].TaskArn == nil:
				err = &awserr.LaunchError{Kind: awserr.KindTransient, Op: "RunTask", Attempts: res.Attempts, AWSMessage: "ECS returned neither a task nor a failure",
					Fix: "Launch again with the same client token: ECS starts at most one task for it"}
			default:
				// Copies: the SDK's strings share one buffer per answer,
				// which a kept ARN would keep whole for the task's life.
				task := out.Tasks[0]
				res.TaskARN = strings.Clone(aws.ToString(task.TaskArn))
				res.ClusterARN = strings.Clone(aws.ToString(task.ClusterArn))
				cluster := plan.Cluster
				if cluster == "" {
					cluster = res.ClusterARN
				}
				res.Identifier = cluster + "::" + res.TaskARN
				res.Answered = l.opts.Clock()
				return res, nil
			}
		}
		if awserr.IsContextError(err) {
			return nil, fmt.Errorf("RunTask: %w", err)
		}
		if ids := conflictingTasks(err); len(ids) > 0 {
			// The token already started a task, from a request that
			// differed (another replica registered its own revision, the
			// plan changed): that task is this launch's task.
			if l.adoptTask(ctx, input, ids, plan, res) {
				res.Answered = l.opts.Clock()
				return res, nil
			}
		}
		switch {
		case (len(input.Tags) > 0 || input.PropagateTags != "") && awserr.DeniedAction(err) == "ecs:TagResource":
			// Without ecs:TagResource ECS refuses to create tagged tasks:
			// start it untagged rather than not at all.
			perms.Note("RunTask", "", err)
			res.Warnings = append(res.Warnings, dropTags(input)...)
			continue
		case awserr.IsTaskDefinitionGone(err) && plan.TaskDefinitionARN == "" && !reEnsured:
			// Our revision was deregistered (by prune, by the observer of
			// another run, by hand): forget it and ensure it again.
			reEnsured = true
			l.tds.Invalidate(res.TaskDefinitionARN)
			arn, registered, err := l.tds.Ensure(ctx, td, taskdef.EnsureOptions{MatchLatestRevision: plan.MatchLatestRevision})
			if err != nil {
				return nil, err
			}
			res.TaskDefinitionARN, facts.TaskDefinition = arn, arn
			input.TaskDefinition = aws.String(arn)
			if registered && !res.Registered {
				res.Registered = true
				if plan.AutoDeregister && !hasTag(input, DeregisterTaskDefinitionTag) {
					input.Tags = appendDeregisterTag(input.Tags)
				}
			}
			continue
		case awserr.IsThrottle(err) && throttles < l.opts.ThrottleRetries:
			throttles++
			if err := l.opts.Sleep(ctx, backoff.Delay(throttles, l.opts.ThrottleBackoff.Base, l.opts.ThrottleBackoff.Max)); err != nil {
				return nil, fmt.Errorf("RunTask: %w", err)
			}
			continue
		case awserr.IsCapacity(err) && capacity < l.opts.CapacityRetries && !plan.FallsBack:
			// A step with a later one is not retried: a Spot shortage
			// lasts minutes, and the next step has room now.
			capacity++
			if err := l.opts.Sleep(ctx, backoff.Delay(capacity, l.opts.CapacityBackoff.Base, l.opts.CapacityBackoff.Max)); err != nil {
				return nil, fmt.Errorf("RunTask: %w", err)
			}
			continue
		}
		return nil, runTaskError(err, facts, res.Attempts)
	}
}

// dropTags removes what would make RunTask create tags, for an identity
// without ecs:TagResource.
func dropTags(input *ecs.RunTaskInput) []string {
	if len(input.Tags) == 0 && input.PropagateTags == "" {
		return nil
	}
	input.Tags, input.PropagateTags = nil, ""
	return []string{"the task was started without tags (prefect.io/flow-run-id, ...): the worker's AWS identity may not use ecs:TagResource"}
}

// conflictingTasks returns the tasks ECS says a clientToken already
// started, when RunTask was refused for reusing it with another request.
func conflictingTasks(err error) []string {
	var ce *ecstypes.ConflictException
	if errors.As(err, &ce) {
		return ce.ResourceIds
	}
	return nil
}

// adoptTask fills res from the task the client token already started.
func (l *Launcher) adoptTask(ctx context.Context, input *ecs.RunTaskInput, ids []string, plan *ecsrequest.Plan, res *Launched) bool {
	res.TaskARN = ids[0]
	res.ClusterARN = clusterARNOfTask(ids[0])
	// The details are a nicety: the task exists either way, and failing the
	// launch here would report a crash for a run whose task is starting.
	if out, err := l.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: input.Cluster, Tasks: ids[:1]}); err == nil && len(out.Tasks) > 0 && out.Tasks[0].TaskArn != nil {
		task := out.Tasks[0]
		res.TaskARN = strings.Clone(aws.ToString(task.TaskArn)) // see Launch
		res.ClusterARN = strings.Clone(aws.ToString(task.ClusterArn))
		if arn := aws.ToString(task.TaskDefinitionArn); arn != "" {
			res.TaskDefinitionARN = strings.Clone(arn)
		}
	}
	res.Registered = false
	cluster := plan.Cluster
	if cluster == "" {
		cluster = res.ClusterARN
	}
	res.Identifier = cluster + "::" + res.TaskARN
	res.Warnings = append(res.Warnings, fmt.Sprintf("the client token had already started task %s, from a different request; that task is this launch's", res.TaskARN))
	return true
}

// clusterARNOfTask derives a cluster's ARN from one of its tasks' ARNs
// (arn:PARTITION:ecs:REGION:ACCOUNT:task/CLUSTER/ID); "" for the old
// task ARN format, which does not name the cluster.
func clusterARNOfTask(taskARN string) string {
	prefix, rest, ok := strings.Cut(taskARN, ":task/")
	if !ok {
		return ""
	}
	cluster, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return prefix + ":cluster/" + cluster
}

// facts collects what RunTask error messages name.
func (l *Launcher) facts(plan *ecsrequest.Plan) launchFacts {
	f := launchFacts{
		Cluster:            plan.RunTask.GetString("cluster"),
		Region:             l.clients.Region,
		LaunchType:         plan.RunTask.GetString("launchType"),
		UserTaskDefinition: plan.TaskDefinitionARN != "",
		ExecutionRole:      plan.TaskDefinition.GetString("executionRoleArn"),
	}
	if f.Cluster == "" {
		f.Cluster = plan.Cluster
	}
	if f.Cluster == "" {
		f.Cluster = "default"
	}
	for _, cp := range plan.RunTask.GetArray("capacityProviderStrategy") {
		if name := objString(cp, "capacityProvider"); name != "" {
			f.CapacityProviders = append(f.CapacityProviders, name)
		}
	}
	return f
}

// subnets resolves the network plan, reusing recent answers for the same
// VPC. Without the EC2 permissions a check of named subnets is skipped (ECS
// checks them anyway), and subnets to infer are an error that says what to
// set, asked of EC2 again only once the refusal is old.
func (l *Launcher) subnets(ctx context.Context, plan *ecsrequest.NetworkPlan) ([]string, error) {
	if plan == nil {
		return nil, nil
	}
	perms := l.clients.Permissions
	needs := []string{"ec2:DescribeSubnets"}
	if plan.Infer {
		needs = []string{"ec2:DescribeVpcs", "ec2:DescribeSubnets"}
	}
	for _, action := range needs {
		if err := perms.Refusal(action, ""); err != nil {
			if !plan.Infer {
				return plan.CheckSubnets, nil
			}
			return nil, &NetworkError{Err: err, Msg: "the task's subnets cannot be found without " + action + " (" + err.Error() + "). Set the subnets job variable, or grant the worker's AWS identity ec2:DescribeVpcs and ec2:DescribeSubnets"}
		}
	}
	key := fmt.Sprintf("%t|%s|%s", plan.Infer, plan.VPCID, strings.Join(plan.CheckSubnets, ","))
	now := l.opts.Clock()
	l.netMu.Lock()
	e, ok := l.netCache[key]
	l.netMu.Unlock()
	if ok && now.Before(e.expires) {
		return e.subnets, nil
	}
	subnets, _, err := l.netFlight.Do(ctx, key, func() ([]string, error) {
		subnets, err := ResolveNetwork(ctx, l.clients.EC2, plan)
		if err != nil {
			return nil, err
		}
		l.netMu.Lock()
		l.netCache[key] = netEntry{subnets: subnets, expires: now.Add(l.opts.NetworkCacheTTL)}
		l.netMu.Unlock()
		return subnets, nil
	})
	if err != nil && awserr.IsUnavailable(err) {
		perms.Note(ec2ActionOf(err), "", err)
		if !plan.Infer {
			return plan.CheckSubnets, nil
		}
		var ne *NetworkError
		if errors.As(err, &ne) {
			ne.Msg += ". Set the subnets job variable to do without EC2 lookups"
		}
	}
	return subnets, err
}

// ec2ActionOf names the EC2 action a network error was refused for.
func ec2ActionOf(err error) string {
	if a := awserr.DeniedAction(err); a != "" && a != "?" {
		return a
	}
	var oe interface{ Operation() string }
	if errors.As(err, &oe) {
		return "ec2:" + oe.Operation()
	}
	return "ec2:DescribeSubnets"
}

func networkOf(req *jsonv.Object) (subnets, groups []string) {
	aws := req.GetObject("networkConfiguration").GetObject("awsvpcConfiguration")
	for _, s := range aws.GetArray("subnets") {
		if str, ok := s.(string); ok {
			subnets = append(subnets, str)
		}
	}
	for _, s := range aws.GetArray("securityGroups") {
		if str, ok := s.(string); ok {
			groups = append(groups, str)
		}
	}
	return subnets, groups
}

// maxTaskTags is how many tags ECS accepts on a task.
const maxTaskTags = 50

// addDeregisterTag adds the auto-deregistration tag to the request's tags,
// making room by dropping the last tag when there are already 50.
func addDeregisterTag(req *jsonv.Object) (warnings []string) {
	tags := req.GetArray("tags")
	for _, t := range tags {
		if objString(t, "key") == DeregisterTaskDefinitionTag {
			return nil
		}
	}
	if len(tags) >= maxTaskTags {
		dropped := objString(tags[len(tags)-1], "key")
		tags = tags[:maxTaskTags-1]
		warnings = append(warnings, fmt.Sprintf("the tag %q was not sent: ECS allows %d tags on a task and auto_deregister_task_definition needs one. Remove a label.", dropped, maxTaskTags))
	}
	req.Set("tags", append(tags, jsonv.ObjectOf("key", DeregisterTaskDefinitionTag, "value", "true")))
	return warnings
}

func hasTag(in *ecs.RunTaskInput, key string) bool {
	for _, t := range in.Tags {
		if aws.ToString(t.Key) == key {
			return true
		}
	}
	return false
}

func appendDeregisterTag(tags []ecstypes.Tag) []ecstypes.Tag {
	if len(tags) >= maxTaskTags {
		tags = tags[:maxTaskTags-1]
	}
	return append(tags, ecstypes.Tag{Key: aws.String(DeregisterTaskDefinitionTag), Value: aws.String("true")})
}

// objString is the string k of v, when v is an object.
func objString(v any, k string) string {
	o, _ := v.(*jsonv.Object)
	return o.GetString(k)
}
