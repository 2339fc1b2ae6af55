package awsecs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// This file is the one place that decides what an AWS error means. Errors
// are classified by their API error code. AWS leaves a few conditions
// without a code of their own (RunTask failures[].reason, throttles that ECS
// reports as ClientException or InvalidParameterException, an inactive task
// definition); the message texts that identify them are listed here, and
// only here, with tests.

// ErrorKind says what kind of failure a *LaunchError is, and with it whether
// trying again can help.
type ErrorKind string

const (
	// KindThrottled: AWS refused the call because of its request rate.
	// Retrying later helps.
	KindThrottled ErrorKind = "Throttled"
	// KindCapacity: there was nowhere to place the task right now (no free
	// CPU or memory, no container instances, Fargate capacity). Retrying
	// later may help.
	KindCapacity ErrorKind = "Capacity"
	// KindNotFound: a cluster, task definition or task does not exist (or
	// is inactive).
	KindNotFound ErrorKind = "NotFound"
	// KindPermanent: AWS refused the request as it is (bad parameter,
	// missing permission); sending it again fails again.
	KindPermanent ErrorKind = "Permanent"
	// KindTransient: a server error or a network failure that outlasted the
	// SDK's retries.
	KindTransient ErrorKind = "Transient"
)

// LaunchError is a failed AWS call (or a request refused before it was
// sent) explained in the worker's terms. Error() gives what AWS said and
// what to change.
type LaunchError struct {
	Kind ErrorKind
	// Op is the AWS operation ("RunTask", "RegisterTaskDefinition", ...).
	Op string
	// AWSCode and AWSMessage are the API error code and message, or the
	// RunTask failure reason and detail; empty when the request was never
	// sent.
	AWSCode    string
	AWSMessage string
	// Fix says what to change so that the next attempt succeeds.
	Fix string
	// Attempts is how many times the call was made.
	Attempts int
	// Err is the underlying error, if any.
	Err error
}

func (e *LaunchError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(" failed")
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	b.WriteString(": ")
	switch {
	case e.AWSMessage != "" && e.AWSCode != "":
		b.WriteString(e.AWSMessage)
		b.WriteString(" (")
		b.WriteString(e.AWSCode)
		b.WriteString(")")
	case e.AWSMessage != "":
		b.WriteString(e.AWSMessage)
	case e.AWSCode != "":
		b.WriteString(e.AWSCode)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("unknown error")
	}
	if e.Fix != "" {
		b.WriteString(". ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

func (e *LaunchError) Unwrap() error { return e.Err }

// Retryable reports whether making the same call again later may succeed.
func (e *LaunchError) Retryable() bool {
	return e.Kind == KindThrottled || e.Kind == KindCapacity || e.Kind == KindTransient
}

// RunTaskFailure is one entry of RunTask's failures[]: ECS accepted the call
// but could not start the task.
type RunTaskFailure struct {
	Arn    string
	Reason string
	Detail string
}

func (f *RunTaskFailure) Error() string {
	msg := "ECS could not start the task: " + f.Reason
	if f.Detail != "" {
		msg += " (" + f.Detail + ")"
	}
	return msg
}

// Codes AWS uses for throttling across ECS, EC2, CloudWatch Logs and STS.
var throttleCodes = map[string]bool{
	"ThrottlingException":       true,
	"Throttling":                true,
	"ThrottledException":        true,
	"RequestLimitExceeded":      true, // EC2
	"TooManyRequestsException":  true,
	"RequestThrottled":          true,
	"RequestThrottledException": true,
	"EC2ThrottledException":     true,
	"SlowDown":                  true,
	"PriorRequestNotComplete":   true,
}

// Codes for requests AWS will refuse again if sent again.
var permanentCodes = map[string]bool{
	"ClientException":                                true,
	"InvalidParameterException":                      true,
	"AccessDeniedException":                          true,
	"AccessDenied":                                   true,
	"UnauthorizedOperation":                          true, // EC2
	"AuthFailure":                                    true, // EC2
	"UnrecognizedClientException":                    true,
	"InvalidClientTokenId":                           true,
	"InvalidSignatureException":                      true,
	"SignatureDoesNotMatch":                          true,
	"ExpiredTokenException":                          true,
	"ExpiredToken":                                   true,
	"MissingAuthenticationToken":                     true,
	"IncompleteSignature":                            true,
	"OptInRequired":                                  true,
	"ValidationException":                            true,
	"InvalidParameterValue":                          true, // EC2
	"InvalidParameterCombination":                    true, // EC2
	"MissingParameter":                               true, // EC2
	"UnsupportedFeatureException":                    true,
	"PlatformUnknownException":                       true,
	"PlatformTaskDefinitionIncompatibilityException": true,
	"BlockedException":                               true,
	"LimitExceededException":                         true, // ECS: a resource quota, not a rate
	"AttributeLimitExceededException":                true,
	"ConflictException":                              true,
}

// Codes that mean "does not exist".
var notFoundCodes = map[string]bool{
	"ClusterNotFoundException":   true,
	"ServiceNotFoundException":   true,
	"ResourceNotFoundException":  true,
	"TargetNotFoundException":    true,
	"NamespaceNotFoundException": true,
}

// Message texts AWS gives no code of their own. Each is matched
// case-insensitively as a substring of the message (or failure reason).
const (
	// ECS answers RegisterTaskDefinition with ClientException when several
	// registrations in one family overlap.
	msgConcurrentRevision = "too many concurrent attempts to create a new revision"
	// ECS sometimes reports throttling as InvalidParameterException or
	// ClientException "Rate exceeded (ErrorCode: Throttling)".
	msgRateExceeded = "rate exceeded"
	// RunTask with a deregistered task definition: ClientException.
	msgTaskDefinitionInactive = "taskdefinition is inactive"
	// RunTask with a task definition that does not exist: ClientException.
	msgTaskDefinitionNotFound  = "taskdefinition not found"
	msgTaskDefinitionNotFound2 = "unable to describe task definition"
	// StopTask/DescribeTasks on an unknown task: InvalidParameterException.
	msgTaskNotFound  = "the referenced task was not found"
	msgTaskNotFound2 = "task was not found"
	// RunTask on EC2 in a cluster without instances: InvalidParameterException.
	msgNoContainerInstances = "no container instances were found in your cluster"
	// Fargate capacity, as a failure reason or an error message.
	msgCapacityUnavailable = "capacity is unavailable at this time"
	// Fargate's concurrent-task quota, as a failure reason.
	msgTaskLimit = "reached the limit on the number of tasks you can run concurrently"
	// The execution role cannot create the awslogs group or stream.
	msgLoggerArgs = "failed to validate logger args"
)

// apiErrorOf returns the API error inside err, if there is one.
func apiErrorOf(err error) (smithy.APIError, bool) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae, true
	}
	return nil, false
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func launchErrorOf(err error) (*LaunchError, bool) {
	var le *LaunchError
	if errors.As(err, &le) {
		return le, true
	}
	return nil, false
}

func failureOf(err error) (*RunTaskFailure, bool) {
	var f *RunTaskFailure
	if errors.As(err, &f) {
		return f, true
	}
	return nil, false
}

// IsThrottle reports whether err is AWS refusing a call for its rate.
func IsThrottle(err error) bool {
	if err == nil {
		return false
	}
	if le, ok := launchErrorOf(err); ok {
		return le.Kind == KindThrottled
	}
	ae, ok := apiErrorOf(err)
	if !ok {
		var re *smithyhttp.ResponseError
		return errors.As(err, &re) && re.HTTPStatusCode() == 429
	}
	if throttleCodes[ae.ErrorCode()] {
		return true
	}
	msg := ae.ErrorMessage()
	return containsFold(msg, msgConcurrentRevision) || containsFold(msg, msgRateExceeded)
}

// IsCapacityReason reports whether a RunTask failure reason says that there
// was nowhere to place the task right now.
func IsCapacityReason(reason string) bool {
	return strings.HasPrefix(reason, "RESOURCE:") ||
		reason == "AGENT" ||
		containsFold(reason, msgCapacityUnavailable) ||
		containsFold(reason, msgNoContainerInstances) ||
		containsFold(reason, msgTaskLimit)
}

// IsCapacity reports whether err says that there was nowhere to place a
// task right now: RunTask failures RESOURCE:*, AGENT, Fargate's "Capacity is
// unavailable at this time", or an EC2 cluster without container instances.
func IsCapacity(err error) bool {
	if err == nil {
		return false
	}
	if le, ok := launchErrorOf(err); ok {
		return le.Kind == KindCapacity
	}
	if f, ok := failureOf(err); ok {
		return IsCapacityReason(f.Reason)
	}
	ae, ok := apiErrorOf(err)
	if !ok {
		return false
	}
	msg := ae.ErrorMessage()
	return containsFold(msg, msgNoContainerInstances) || containsFold(msg, msgCapacityUnavailable)
}

// IsNotFound reports whether err says that a cluster, task definition or
// task does not exist, or that the task definition is inactive.
func IsNotFound(err error) bool {
	if err == nil {
		return false
	}
	if le, ok := launchErrorOf(err); ok {
		return le.Kind == KindNotFound
	}
	if f, ok := failureOf(err); ok {
		return f.Reason == "MISSING"
	}
	ae, ok := apiErrorOf(err)
	if !ok {
		return false
	}
	code := ae.ErrorCode()
	if notFoundCodes[code] || strings.HasSuffix(code, ".NotFound") { // EC2: InvalidVpcID.NotFound, ...
		return true
	}
	return isTaskDefinitionGone(err) || isTaskNotFound(err)
}

// IsPermanent reports whether AWS refused the request as it is, so that
// sending it again cannot succeed: ClientException, InvalidParameterException,
// AccessDeniedException and the like, when they are not one of the throttle,
// capacity or not-found cases above.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if le, ok := launchErrorOf(err); ok {
		return le.Kind == KindPermanent
	}
	if IsThrottle(err) || IsCapacity(err) || IsNotFound(err) {
		return false
	}
	if f, ok := failureOf(err); ok {
		return f.Reason != ""
	}
	ae, ok := apiErrorOf(err)
	if !ok {
		return false
	}
	return permanentCodes[ae.ErrorCode()]
}

// isTaskDefinitionGone reports RunTask's answer for a task definition that
// was deregistered or never existed.
func isTaskDefinitionGone(err error) bool {
	ae, ok := apiErrorOf(err)
	if !ok {
		return false
	}
	msg := ae.ErrorMessage()
	return containsFold(msg, msgTaskDefinitionInactive) || containsFold(msg, msgTaskDefinitionNotFound) || containsFold(msg, msgTaskDefinitionNotFound2)
}

func isTaskNotFound(err error) bool {
	ae, ok := apiErrorOf(err)
	if !ok {
		return false
	}
	msg := ae.ErrorMessage()
	return containsFold(msg, msgTaskNotFound) || containsFold(msg, msgTaskNotFound2)
}

func isClusterNotFound(err error) bool {
	ae, ok := apiErrorOf(err)
	return ok && ae.ErrorCode() == "ClusterNotFoundException"
}

// isContextError reports an error caused by the caller's context ending.
func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// sdkRetryable tells the SDK's retryer about the throttles that ECS reports
// under other codes, so that they are retried (and paced) like throttles.
var sdkRetryable = retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
	if _, ok := apiErrorOf(err); ok && IsThrottle(err) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
})

var sdkThrottle = retry.IsErrorThrottleFunc(func(err error) aws.Ternary {
	if _, ok := apiErrorOf(err); ok && IsThrottle(err) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
})

// kindOf classifies any error from an AWS call.
func kindOf(err error) ErrorKind {
	switch {
	case IsThrottle(err):
		return KindThrottled
	case IsCapacity(err):
		return KindCapacity
	case IsNotFound(err):
		return KindNotFound
	case IsPermanent(err):
		return KindPermanent
	}
	return KindTransient
}

// awsError describes a failed call of op without launch-specific advice.
func awsError(op string, err error, attempts int) *LaunchError {
	if le, ok := launchErrorOf(err); ok {
		return le
	}
	le := &LaunchError{Kind: kindOf(err), Op: op, Err: err, Attempts: attempts}
	if ae, ok := apiErrorOf(err); ok {
		le.AWSCode, le.AWSMessage = ae.ErrorCode(), ae.ErrorMessage()
	} else if f, ok := failureOf(err); ok {
		le.AWSCode, le.AWSMessage = f.Reason, f.Detail
	}
	switch le.Kind {
	case KindThrottled:
		le.Fix = "AWS kept throttling the calls; lower the number of flow runs submitted at once, or ask AWS for a higher API rate quota"
	case KindTransient:
		le.Fix = "This looks temporary (a server or network error); it is retried on the next attempt"
	}
	if le.AWSCode != "" && (strings.Contains(le.AWSCode, "AccessDenied") || le.AWSCode == "UnauthorizedOperation") {
		le.Fix = "Grant the worker's AWS identity permission for " + serviceOf(op) + ":" + op + " (the message names the missing action and resource)"
	}
	if le.AWSCode == "ExpiredTokenException" || le.AWSCode == "ExpiredToken" || le.AWSCode == "InvalidClientTokenId" || le.AWSCode == "UnrecognizedClientException" {
		le.Fix = "The AWS credentials are invalid or expired; refresh them or check the aws_credentials block"
	}
	return le
}

func serviceOf(op string) string {
	switch op {
	case "DescribeVpcs", "DescribeSubnets":
		return "ec2"
	case "GetLogEvents":
		return "logs"
	}
	return "ecs"
}

// launchFacts is what RunTask's error messages name.
type launchFacts struct {
	Cluster            string // as the user gave it; "default" when unset
	Region             string
	LaunchType         string
	TaskDefinition     string
	UserTaskDefinition bool // task_definition_arn named it, we did not register it
	ExecutionRole      string
	Subnets            []string
	SecurityGroups     []string
	CapacityProviders  []string
}

// runTaskError explains a failed RunTask in the worker's words, covering
// the cases the Python worker maps (§3.2 of the reference) and more.
func runTaskError(err error, f launchFacts, attempts int) *LaunchError {
	if le, ok := launchErrorOf(err); ok {
		return le
	}
	le := awsError("RunTask", err, attempts)
	msg := le.AWSMessage
	where := fmt.Sprintf("cluster %q", f.Cluster)
	if f.Region != "" {
		where += " (region " + f.Region + ")"
	}
	switch {
	case isClusterNotFound(err):
		le.Kind = KindNotFound
		le.Fix = fmt.Sprintf("ECS has no %s. Create it (aws ecs create-cluster --cluster-name %s) or set the cluster job variable to an existing cluster in this region", where, f.Cluster)
	case isTaskDefinitionGone(err):
		le.Kind = KindNotFound
		if f.UserTaskDefinition {
			le.Fix = fmt.Sprintf("The task definition %s is inactive or does not exist. Register it again, or remove task_definition_arn so that the worker registers one", f.TaskDefinition)
		} else {
			le.Fix = fmt.Sprintf("The task definition %s was deregistered while in use; the next attempt registers it again", f.TaskDefinition)
		}
	case containsFold(msg, msgLoggerArgs):
		le.Kind = KindPermanent
		role := f.ExecutionRole
		if role == "" {
			role = "(none set)"
		}
		le.Fix = fmt.Sprintf("The execution role %s cannot write the task's CloudWatch logs. Give it logs:CreateLogGroup, logs:CreateLogStream and logs:PutLogEvents, or set execution_role_arn to a role that has them", role)
	case le.Kind == KindCapacity && containsFold(msg+le.AWSCode, msgNoContainerInstances):
		le.Fix = fmt.Sprintf("%s has no container instances. Start EC2 container instances in it (or attach an Auto Scaling group capacity provider), or use launch_type FARGATE", upperFirst(where))
	case le.Kind == KindCapacity:
		le.Fix = capacityFix(le.AWSCode+" "+msg, where)
	case le.Kind == KindPermanent && (containsFold(msg, "capacity provider") || containsFold(msg, "capacityprovider")):
		le.Fix = fmt.Sprintf("The capacity provider strategy %s does not fit %s. Associate the capacity providers with the cluster (aws ecs put-cluster-capacity-providers) or change capacity_provider_strategy", listOrNone(f.CapacityProviders), where)
	case le.Kind == KindPermanent && le.AWSCode == "InvalidParameterException" && (containsFold(msg, "subnet") || containsFold(msg, "security group") || containsFold(msg, "securitygroup") || containsFold(msg, "network")):
		le.Fix = fmt.Sprintf("The network configuration was refused. Check that the subnets %s and security groups %s exist in region %s and belong to one VPC (vpc_id), or set the subnets and security_groups job variables", listOrNone(f.Subnets), listOrNone(f.SecurityGroups), f.Region)
	case le.Kind == KindPermanent && le.AWSCode == "AccessDeniedException":
		le.Fix = "Grant the worker's AWS identity ecs:RunTask and ecs:TagResource on the cluster and task definition, and iam:PassRole for the task and execution roles"
	case le.Kind == KindPermanent:
		le.Fix = "ECS refused the request as it is; correct the work pool's task_run_request template or the job variables that fill it"
	}
	return le
}

func capacityFix(text, where string) string {
	switch {
	case containsFold(text, msgCapacityUnavailable):
		return "Fargate had no capacity for the task in the chosen subnets' availability zones. Retry later, or add subnets in other availability zones"
	case containsFold(text, msgTaskLimit):
		return "The account's quota of concurrent Fargate tasks is used up. Wait for tasks to finish, or ask AWS for a higher Fargate vCPU quota"
	case containsFold(text, "RESOURCE:MEMORY"), containsFold(text, "RESOURCE:CPU"), containsFold(text, "RESOURCE:GPU"):
		return fmt.Sprintf("No container instance in %s has the CPU, memory or GPUs the task asks for. Add or enlarge container instances, or lower cpu/memory", where)
	case containsFold(text, "RESOURCE:PORTS"):
		return fmt.Sprintf("Every container instance in %s already uses the task's host ports. Use dynamic host ports (hostPort 0) or add instances", where)
	case containsFold(text, "RESOURCE:ENI"):
		return fmt.Sprintf("The container instances in %s have no free network interfaces for awsvpc tasks. Add instances or enable ENI trunking", where)
	case containsFold(text, "AGENT"):
		return fmt.Sprintf("The ECS agent of the container instances in %s is disconnected. Check the instances and their agent", where)
	}
	return fmt.Sprintf("There was no room for the task in %s. Add capacity, or retry later", where)
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
