package infra

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"

	"github.com/ecsworker/ecsworker/internal/cfnstack"
	"github.com/ecsworker/ecsworker/internal/lazyregexp"
)

// ServiceConfig is what deploy-service deploys. The CLI fills it from
// flags; ClusterArn is the ARN the pre-deploy check resolved, whatever
// form the user gave.
type ServiceConfig struct {
	StackName  string
	WorkPool   string
	ClusterArn string
	VpcID      string
	SubnetIDs  []string
	PublicIP   bool
	Image      string
	WorkQueues []string
	APIURL     string
	// At most one of each pair is used: an existing secret wins over a
	// value, which the stack stores in a secret it creates.
	APIKey              string
	APIKeySecretArn     string
	AuthString          string
	AuthStringSecretArn string

	CPU, Memory      int
	CPUArchitecture  string
	DesiredCount     int
	MinCapacity      int
	MaxCapacity      int // 0: no autoscaling
	LogRetentionDays int

	FlowRunLogGroup    string
	FamilyPattern      string
	FlowRunTaskRoleArn string

	AlarmEmail    string
	AlarmTopicArn string
	// CrashAlarmThreshold is how many crashed runs in 15 minutes set off
	// the crash alarm; SubmissionLatencyAlarmSeconds the p90 from
	// scheduled start to RunTask above which the latency alarm goes off.
	CrashAlarmThreshold           int
	SubmissionLatencyAlarmSeconds int
}

// EventsConfig is what deploy-events deploys.
type EventsConfig struct {
	StackName  string
	WorkPool   string
	ClusterArn string
}

var (
	stackNameRE  = lazyregexp.New(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	vpcRE        = lazyregexp.New(`^vpc-[0-9a-f]{8,17}$`)
	subnetRE     = lazyregexp.New(`^subnet-[0-9a-f]{8,17}$`)
	secretArnRE  = lazyregexp.New(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$`)
	roleArnRE    = lazyregexp.New(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`)
	topicArnRE   = lazyregexp.New(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$`)
	familyPatRE  = lazyregexp.New(`^[A-Za-z0-9_*-]{1,255}$`)
	logGroupRE   = lazyregexp.New(`^[.\-_/#A-Za-z0-9]{1,512}$`)
	familyUnsafe = lazyregexp.New(`[^A-Za-z0-9_-]+`)
	stackUnsafe  = lazyregexp.New(`[^A-Za-z0-9-]+`)
)

// LogRetentionDays are the values CloudWatch Logs accepts.
var LogRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// fargateMemory lists the memory sizes (MiB) Fargate accepts for each CPU
// size the worker template allows.
var fargateMemory = map[int][]int{
	256:  {512, 1024, 2048},
	512:  steps(1024, 4096),
	1024: steps(2048, 8192),
	2048: steps(4096, 16384),
	4096: steps(8192, 30720),
}

func steps(from, to int) []int {
	var out []int
	for m := from; m <= to; m += 1024 {
		out = append(out, m)
	}
	return out
}

// DefaultStackName derives a stack name from the pool: CloudFormation
// allows letters, digits and hyphens, starting with a letter.
func DefaultStackName(pool string, kind cfnstack.Kind) string {
	name := strings.Trim(stackUnsafe().ReplaceAllString(pool, "-"), "-")
	suffix := ""
	if kind == cfnstack.KindEvents {
		suffix = "-events"
	}
	name = "ecsworker-" + name
	if len(name)+len(suffix) > 128 {
		name = strings.TrimRight(name[:128-len(suffix)], "-")
	}
	return name + suffix
}

// DefaultFamilyPattern matches the task definition families the worker
// registers for a pool: prefect_<pool>_<deployment id>, with the pool
// name cleaned the way the worker cleans it.
func DefaultFamilyPattern(pool string) string {
	p := familyUnsafe().ReplaceAllString("prefect_"+pool+"_", "-")
	if len(p) > 254 {
		p = p[:254]
	}
	return p + "*"
}

// IsPrefectCloud tells a Prefect Cloud API URL, which needs an API key.
func IsPrefectCloud(apiURL string) bool {
	u, err := url.Parse(apiURL)
	return err == nil && strings.HasSuffix(strings.ToLower(u.Hostname()), "prefect.cloud")
}

// Validate reports every problem at once, each naming the flag, the
// value and the fix, before anything is sent to AWS.
func (c ServiceConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	errs = append(errs, validateCommon(c.StackName, c.WorkPool)...)
	if c.VpcID == "" {
		bad("--vpc is required: the VPC the worker runs in (e.g. vpc-0abc12345)")
	} else if !vpcRE().MatchString(c.VpcID) {
		bad("--vpc %q: give a VPC ID such as vpc-0abc12345", c.VpcID)
	}
	errs = append(errs, subnetsProblems(c.SubnetIDs, "the subnets of the worker")...)
	if c.Image == "" {
		bad("--image is empty: give the ecsworker image to run, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/ecsworker:v1.0.0")
	}
	for _, q := range c.WorkQueues {
		if q == "" || strings.Contains(q, ",") {
			bad("--work-queue %q: give one non-empty queue name per flag", q)
		}
	}
	if u, err := url.Parse(c.APIURL); c.APIURL == "" {
		bad("no Prefect API URL for the worker: pass --worker-api-url, set PREFECT_API_URL, or use a Prefect profile that sets it")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("Prefect API URL %q: give an http(s) URL such as https://api.prefect.cloud/api/accounts/<account>/workspaces/<workspace>", c.APIURL)
	}
	if c.APIKeySecretArn != "" && !secretArnRE().MatchString(c.APIKeySecretArn) {
		bad("--api-key-secret-arn %q: give the ARN of a Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>)", c.APIKeySecretArn)
	}
	if c.AuthStringSecretArn != "" && !secretArnRE().MatchString(c.AuthStringSecretArn) {
		bad("--auth-string-secret-arn %q: give the ARN of a Secrets Manager secret", c.AuthStringSecretArn)
	}
	if IsPrefectCloud(c.APIURL) && c.APIKey == "" && c.APIKeySecretArn == "" {
		bad("Prefect Cloud needs an API key: set PREFECT_API_KEY (or use a profile that has one), pipe it to --api-key-stdin, or pass --api-key-secret-arn with an existing secret")
	}
	if mems, ok := fargateMemory[c.CPU]; !ok {
		bad("--cpu %d: Fargate takes 256, 512, 1024, 2048 or 4096 for the worker", c.CPU)
	} else if !slices.Contains(mems, c.Memory) {
		bad("--memory %d: with --cpu %d Fargate takes %s MiB", c.Memory, c.CPU, rangeText(mems))
	}
	if c.CPUArchitecture != "X86_64" && c.CPUArchitecture != "ARM64" {
		bad("--cpu-architecture %q: use X86_64 or ARM64", c.CPUArchitecture)
	}
	if c.DesiredCount < 0 || c.DesiredCount > 20 {
		bad("--desired-count %d: give 0 to 20 worker tasks", c.DesiredCount)
	}
	if c.MaxCapacity != 0 {
		if c.MaxCapacity < 1 || c.MaxCapacity > 20 {
			bad("--max-capacity %d: give 1 to 20, or 0 for no autoscaling", c.MaxCapacity)
		}
		if c.MinCapacity < 0 || c.MinCapacity > c.MaxCapacity {
			bad("--min-capacity %d: give 0 to --max-capacity (%d)", c.MinCapacity, c.MaxCapacity)
		} else if c.DesiredCount < c.MinCapacity || c.DesiredCount > c.MaxCapacity {
			bad("--desired-count %d: with autoscaling it must lie between --min-capacity %d and --max-capacity %d", c.DesiredCount, c.MinCapacity, c.MaxCapacity)
		}
	}
	if !slices.Contains(LogRetentionDays, c.LogRetentionDays) {
		bad("--log-retention-days %d: CloudWatch Logs keeps logs for %s days", c.LogRetentionDays, intsText(LogRetentionDays))
	}
	if !logGroupRE().MatchString(c.FlowRunLogGroup) {
		bad("--flow-run-log-group %q: give a log group name (letters, digits, . - _ / #)", c.FlowRunLogGroup)
	}
	if !familyPatRE().MatchString(c.FamilyPattern) {
		bad("--family-pattern %q: give a task definition family, where * matches anything (e.g. prefect_my-pool_*)", c.FamilyPattern)
	}
	if c.FlowRunTaskRoleArn != "" && !roleArnRE().MatchString(c.FlowRunTaskRoleArn) {
		bad("--flow-run-task-role-arn %q: give an IAM role ARN (arn:aws:iam::<account>:role/<name>)", c.FlowRunTaskRoleArn)
	}
	if c.AlarmTopicArn != "" && !topicArnRE().MatchString(c.AlarmTopicArn) {
		bad("--alarm-topic-arn %q: give an SNS topic ARN", c.AlarmTopicArn)
	}
	if c.AlarmEmail != "" && !strings.Contains(c.AlarmEmail, "@") {
		bad("--alarm-email %q: give an email address", c.AlarmEmail)
	}
	if c.CrashAlarmThreshold < 1 {
		bad("--crash-alarm-threshold %d: give the number of crashed flow runs in 15 minutes that sets off the alarm, 1 or more (default 5)", c.CrashAlarmThreshold)
	}
	if c.SubmissionLatencyAlarmSeconds < 1 {
		bad("--submission-latency-alarm-seconds %d: give the seconds from scheduled start to RunTask (p90) above which the alarm goes off, 1 or more (default 60)", c.SubmissionLatencyAlarmSeconds)
	}
	return errors.Join(errs...)
}

// Warnings are doubts that do not stop a deploy.
func (c ServiceConfig) Warnings() []string {
	var out []string
	if u, err := url.Parse(c.APIURL); err == nil && (u.Hostname() == "localhost" || strings.HasPrefix(u.Hostname(), "127.") || u.Hostname() == "::1") {
		out = append(out, fmt.Sprintf("the Prefect API URL %s points at this machine; the worker on ECS cannot reach it. Pass --worker-api-url with an address reachable from the VPC.", c.APIURL))
	}
	if c.DesiredCount == 0 && c.MaxCapacity == 0 {
		out = append(out, "--desired-count 0: no worker will run, and the no-running-worker alarm will fire.")
	}
	return out
}

// Validate checks an events stack's configuration.
func (c EventsConfig) Validate() error {
	return errors.Join(validateCommon(c.StackName, c.WorkPool)...)
}

// subnetsProblems checks a --subnets value; what says whose subnets
// they are, for the message when there are none.
func subnetsProblems(ids []string, what string) []error {
	if len(ids) == 0 {
		return []error{fmt.Errorf("--subnets is required: %s, comma-separated (e.g. subnet-0a1b2c3d,subnet-4e5f6a7b)", what)}
	}
	var errs []error
	for _, s := range ids {
		if !subnetRE().MatchString(s) {
			errs = append(errs, fmt.Errorf("--subnets: %q is not a subnet ID; give IDs such as subnet-0a1b2c3d, comma-separated", s))
		}
	}
	return errs
}

func validateCommon(stack, pool string) []error {
	var errs []error
	if pool == "" {
		errs = append(errs, errors.New("--work-pool is required: the Prefect work pool the worker serves"))
	} else if strings.ContainsAny(pool, ",'\"\\") || len(pool) > 128 {
		// Commas would split the worker's command; quotes and backslashes
		// would break the dashboard's JSON and its SEARCH expressions.
		errs = append(errs, fmt.Errorf("--work-pool %q: give a pool name of at most 128 characters without commas, quotes or backslashes", pool))
	}
	if (stack != "" || pool != "") && !stackNameRE().MatchString(stack) {
		errs = append(errs, fmt.Errorf("--stack-name %q: a stack name has up to 128 letters, digits and hyphens and starts with a letter", stack))
	}
	return errs
}

// Parameters are the stack's parameters. Every one is sent explicitly,
// so that a redeploy never keeps a stale previous value.
func (c ServiceConfig) Parameters() []cfntypes.Parameter {
	boolStr := func(b bool) string {
		if b {
			return "ENABLED"
		}
		return "DISABLED"
	}
	kv := [][2]string{
		{"WorkPoolName", c.WorkPool},
		{"ClusterArn", c.ClusterArn},
		{"Image", c.Image},
		{"WorkQueues", strings.Join(c.WorkQueues, ",")},
		{"PrefectApiUrl", c.APIURL},
		{"PrefectApiKey", ifEmpty(c.APIKeySecretArn, c.APIKey)},
		{"PrefectApiKeySecretArn", c.APIKeySecretArn},
		{"PrefectApiAuthString", ifEmpty(c.AuthStringSecretArn, c.AuthString)},
		{"PrefectApiAuthStringSecretArn", c.AuthStringSecretArn},
		{"VpcId", c.VpcID},
		{"SubnetIds", strings.Join(c.SubnetIDs, ",")},
		{"AssignPublicIp", boolStr(c.PublicIP)},
		{"TaskCpu", strconv.Itoa(c.CPU)},
		{"TaskMemory", strconv.Itoa(c.Memory)},
		{"CpuArchitecture", c.CPUArchitecture},
		{"DesiredCount", strconv.Itoa(c.DesiredCount)},
		{"AutoscalingMinCapacity", strconv.Itoa(c.MinCapacity)},
		{"AutoscalingMaxCapacity", strconv.Itoa(c.MaxCapacity)},
		{"LogRetentionDays", strconv.Itoa(c.LogRetentionDays)},
		{"FlowRunLogGroupName", c.FlowRunLogGroup},
		{"FlowRunFamilyPattern", c.FamilyPattern},
		{"FlowRunTaskRoleArn", c.FlowRunTaskRoleArn},
		{"AlarmEmail", c.AlarmEmail},
		{"AlarmTopicArn", c.AlarmTopicArn},
		{"CrashAlarmThreshold", strconv.Itoa(c.CrashAlarmThreshold)},
		{"SubmissionLatencyAlarmSeconds", strconv.Itoa(c.SubmissionLatencyAlarmSeconds)},
	}
	return params(kv)
}

// Parameters are the events stack's parameters.
func (c EventsConfig) Parameters() []cfntypes.Parameter {
	return params([][2]string{{"WorkPoolName", c.WorkPool}, {"ClusterArn", c.ClusterArn}})
}

// ifEmpty returns v unless guard is set: a value is not sent when an
// existing secret replaces it, so that it goes nowhere it is not needed.
func ifEmpty(guard, v string) string {
	if guard != "" {
		return ""
	}
	return v
}

func params(kv [][2]string) []cfntypes.Parameter {
	out := make([]cfntypes.Parameter, len(kv))
	for i, p := range kv {
		out[i] = cfntypes.Parameter{ParameterKey: aws.String(p[0]), ParameterValue: aws.String(p[1])}
	}
	return out
}

// SecretParameters are never shown, in dry runs, errors or JSON output.
var SecretParameters = []string{"PrefectApiKey", "PrefectApiAuthString"}

// ShowParameters returns the parameters as key and display value, with
// secrets masked: "(set)" or "(empty)".
func ShowParameters(ps []cfntypes.Parameter) [][2]string {
	out := make([][2]string, 0, len(ps))
	for _, p := range ps {
		v := aws.ToString(p.ParameterValue)
		if slices.Contains(SecretParameters, aws.ToString(p.ParameterKey)) {
			if v == "" {
				v = "(empty)"
			} else {
				v = "(set: stored in a Secrets Manager secret the stack creates)"
			}
		}
		out = append(out, [2]string{aws.ToString(p.ParameterKey), v})
	}
	return out
}

func rangeText(ms []int) string {
	if len(ms) <= 3 {
		return intsText(ms)
	}
	return fmt.Sprintf("%d to %d in steps of 1024", ms[0], ms[len(ms)-1])
}

func intsText(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
