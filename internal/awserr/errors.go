// Package awserr is what an AWS error means: its kind (throttled,
// capacity, not found, unavailable, permanent, transient) and with it
// whether a retry can help, the explanation shown to people
// (LaunchError), and, per identity, the memory of the actions AWS refused
// (Permissions). Every AWS caller asks it rather than reading error codes
// itself; internal/awsclient hands its throttle rules to the SDK's
// retryer.
package awserr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// This file is the one place that decides what an AWS error means. Errors
// are classified by their API error code. AWS leaves a few conditions
// without a code of their own (RunTask failures[].reason, throttles that ECS
// reports as ClientException or InvalidParameterException, an inactive task
// definition, a missing CloudFormation stack, credentials the SDK could not
// obtain); the message texts that identify them are listed here, and only
// here, with tests. The domain packages add advice in their own words but
// ask this file what an error is.

// ErrorKind says what kind of failure a *LaunchError is, and with it whether
// trying again can help.
type ErrorKind string

const (
	// KindThrottled is AWS refusing the call because of its request rate.
	// Retrying later helps.
	KindThrottled ErrorKind = "Throttled"
	// KindCapacity is nowhere to place the task right now (no free CPU or
	// memory, no container instances, Fargate capacity). Retrying later may
	// help.
	KindCapacity ErrorKind = "Capacity"
	// KindNotFound is a cluster, task definition or task that does not
	// exist (or is inactive).
	KindNotFound ErrorKind = "NotFound"
	// KindUnavailable is an action that cannot be used at all: AWS denied
	// it to the identity, or the endpoint does not implement it. The caller falls
	// back without it, or stops with a message; asking again per run is
	// pointless (see Permissions).
	KindUnavailable ErrorKind = "Unavailable"
	// KindPermanent is AWS refusing the request as it is (a client fault:
	// bad parameter, invalid credentials); sending it again fails again.
	KindPermanent ErrorKind = "Permanent"
	// KindTransient is a server error or a network failure that outlasted
	// the SDK's retries.
	KindTransient ErrorKind = "Transient"
)

// LaunchError is a failed AWS call of the launch path (task definitions,
// network, RunTask, StopTask, prune), or a request refused before it was
// sent, explained in the worker's terms. Error() gives what AWS said and
// what to change. It lives here rather than in internal/launch because
// every domain package makes them and KindOf reads their kind.
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
// Throttling is a client fault on the wire, but waiting helps: it is told
// apart before the fault decides.
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

// Codes that mean "does not exist".
var notFoundCodes = map[string]bool{
	"ClusterNotFoundException":   true,
	"ServiceNotFoundException":   true,
	"ResourceNotFoundException":  true,
	"TargetNotFoundException":    true,
	"NamespaceNotFoundException": true,
}

// Codes that mean the identity may not call the action: the action is
// unavailable to this worker until someone grants it.
var deniedCodes = map[string]bool{
	"AccessDeniedException": true, // awsJson services
	"AccessDenied":          true, // query services, SQS
	"UnauthorizedOperation": true, // EC2
	"UnauthorizedException": true,
}

// Codes that mean the endpoint does not implement the action (an
// ECS-compatible endpoint that lacks it, an old region).
var unknownOperationCodes = map[string]bool{
	"UnknownOperationException": true, // awsJson services
	"InvalidAction":             true, // query services, EC2
	"NotImplemented":            true,
}

// Client-fault codes that still say nothing about the request: the service
// gave up waiting for it. They are retried like server faults.
var timeoutCodes = map[string]bool{
	"RequestTimeout":          true,
	"RequestTimeoutException": true,
	"IDPCommunicationError":   true,
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
	// DescribeStacks on a stack that does not exist: ValidationError "Stack
	// with id <name> does not exist", as CloudFormation documents it.
	msgStackNotFoundPrefix = "stack with id "
	msgStackNotFoundSuffix = " does not exist"
	// The SDK wraps a failure to obtain credentials in plain errors ("get
	// identity: get credentials: ..."), with no type of its own.
	msgGetIdentity = "get identity"
)

// apiErrorOf returns the API error inside err, if there is one.
func apiErrorOf(err error) (smithy.APIError, bool) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae, true
	}
	return nil, false
}

// Answered reports whether err carries an answer of AWS (an API error),
// as opposed to a failure to reach it or to send the call at all.
func Answered(err error) bool {
	_, ok := apiErrorOf(err)
	return ok
}

// ErrorCode is the AWS error code of err, "" for other errors.
func ErrorCode(err error) string {
	if ae, ok := apiErrorOf(err); ok {
		return ae.ErrorCode()
	}
	return ""
}

// ErrorMessage is the message AWS gave, without the SDK's operation and
// request ID wrapping, for errors shown to people; for an error that is
// not an AWS answer, the error itself.
func ErrorMessage(err error) string {
	if ae, ok := apiErrorOf(err); ok {
		return ae.ErrorMessage()
	}
	return err.Error()
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

// Shortage says what a task could not be placed for, as far as ECS's
// failure reasons and messages tell.
type Shortage string

// The shortages ShortageOf tells apart.
const (
	ShortageUnknown     Shortage = ""
	ShortageNoInstances Shortage = "NoContainerInstances" // an EC2 cluster without container instances
	ShortageFargate     Shortage = "FargateCapacity"      // Fargate had no capacity in the subnets' zones
	ShortageTaskQuota   Shortage = "TaskQuota"            // the account's concurrent Fargate tasks
	ShortageResources   Shortage = "Resources"            // CPU, memory or GPUs of the container instances
	ShortagePorts       Shortage = "Ports"                // host ports of the container instances
	ShortageENI         Shortage = "NetworkInterfaces"    // ENIs of the container instances (awsvpc)
	ShortageAgent       Shortage = "Agent"                // the container instances' agent is disconnected
)

// ShortageOf reads what a capacity failure ran short of from its texts
// (the failure reason or error code, and the message), for the advice
// that goes with it.
func ShortageOf(text string) Shortage {
	switch {
	case containsFold(text, msgNoContainerInstances):
		return ShortageNoInstances
	case containsFold(text, msgCapacityUnavailable):
		return ShortageFargate
	case containsFold(text, msgTaskLimit):
		return ShortageTaskQuota
	case containsFold(text, "RESOURCE:MEMORY"), containsFold(text, "RESOURCE:CPU"), containsFold(text, "RESOURCE:GPU"):
		return ShortageResources
	case containsFold(text, "RESOURCE:PORTS"):
		return ShortagePorts
	case containsFold(text, "RESOURCE:ENI"):
		return ShortageENI
	case containsFold(text, "AGENT"):
		return ShortageAgent
	}
	return ShortageUnknown
}

// IsLoggerSetupFailure reports a RunTask message saying that the task's
// execution role could not set up its awslogs group or stream.
func IsLoggerSetupFailure(msg string) bool { return containsFold(msg, msgLoggerArgs) }

// IsStackNotFound reports whether err says that a CloudFormation stack
// does not exist: by its code where AWS gives one, else by the message
// CloudFormation documents for DescribeStacks, whose ValidationError
// covers every invalid request.
func IsStackNotFound(err error) bool {
	ae, ok := apiErrorOf(err)
	if !ok {
		return false
	}
	switch ae.ErrorCode() {
	case "StackNotFoundException":
		return true
	case "ValidationError":
		msg := strings.ToLower(ae.ErrorMessage())
		return strings.HasPrefix(msg, msgStackNotFoundPrefix) && strings.HasSuffix(strings.TrimRight(msg, ". "), msgStackNotFoundSuffix)
	}
	return false
}

// IsQueueNotFound reports whether err says that an SQS queue does not
// exist, under either of the codes SQS answers with (the JSON protocol's
// and the query protocol's).
func IsQueueNotFound(err error) bool {
	var qe *sqstypes.QueueDoesNotExist
	if errors.As(err, &qe) {
		return true
	}
	code := ErrorCode(err)
	return code == "AWS.SimpleQueueService.NonExistentQueue" || code == "QueueDoesNotExist"
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
	return IsTaskDefinitionGone(err) || IsTaskNotFound(err)
}

// IsPermanent reports whether AWS refused the request as it is, so that
// sending it again cannot succeed: any client fault (a 4xx answer, or an
// error the SDK models as the caller's) that is not a throttle, a capacity
// shortage, a missing resource or an unavailable action.
func IsPermanent(err error) bool { return KindOf(err) == KindPermanent }

// IsUnavailable reports whether err says that the action itself cannot be
// used by this worker: AWS denied it to the identity, or the endpoint does
// not implement it. Callers fall back without it, or stop with a message.
func IsUnavailable(err error) bool { return KindOf(err) == KindUnavailable }

// KindOf classifies any error from an AWS call by what the SDK reports: its
// error code first for the conditions that have one (throttling, capacity,
// not found, a denied or unknown action), then the fault: a client fault is
// permanent, a server fault, a network failure or a timeout is transient.
func KindOf(err error) ErrorKind {
	if err == nil {
		return ""
	}
	if le, ok := launchErrorOf(err); ok {
		return le.Kind
	}
	var ke KindedError
	if errors.As(err, &ke) {
		if k := ke.ErrorKind(); k != "" {
			return k
		}
	}
	if ce, ok := credentialsErrorOf(err); ok {
		// No call was made: the credentials themselves were refused (a
		// permanent problem of the block) or could not be fetched yet.
		switch k := KindOf(ce.Err); k {
		case KindUnavailable, KindNotFound:
			return KindPermanent
		default:
			return k
		}
	}
	switch {
	case IsThrottle(err):
		return KindThrottled
	case IsCapacity(err):
		return KindCapacity
	case IsNotFound(err):
		return KindNotFound
	case DeniedAction(err) != "" || isUnknownOperation(err):
		return KindUnavailable
	}
	if f, ok := failureOf(err); ok && f.Reason != "" {
		return KindPermanent
	}
	if ae, ok := apiErrorOf(err); ok && timeoutCodes[ae.ErrorCode()] {
		return KindTransient
	}
	if faultOf(err) == smithy.FaultClient {
		return KindPermanent
	}
	return KindTransient
}

// KindedError is an error of a domain package that knows its kind better
// than its cause can tell (a network plan that the VPC as it is cannot
// satisfy is permanent, though no AWS call failed). KindOf takes its word
// first; an empty kind means: classify the error it wraps.
type KindedError interface {
	error
	ErrorKind() ErrorKind
}

// faultOf says whose fault an AWS error is: the modelled fault of the
// error type when the SDK knows the code, else the HTTP status (4xx is the
// client's, 5xx the server's). Errors that never got an answer (network,
// timeouts) have no fault.
func faultOf(err error) smithy.ErrorFault {
	if ae, ok := apiErrorOf(err); ok {
		if f := ae.ErrorFault(); f != smithy.FaultUnknown {
			return f
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		switch status := re.HTTPStatusCode(); {
		case status == 408 || status == 429:
			return smithy.FaultUnknown // timed out or throttled: retry
		case status >= 500:
			return smithy.FaultServer
		case status >= 400:
			return smithy.FaultClient
		}
	}
	var se *smithy.SerializationError
	if errors.As(err, &se) {
		return smithy.FaultClient // the request could not even be written
	}
	return smithy.FaultUnknown
}

// DeniedAction returns the IAM action AWS denied, when err is a denial:
// the action named in the message ("... is not authorized to perform:
// ecs:TagResource on resource: ..."), which is not always the one called
// (RunTask is refused for iam:PassRole or ecs:TagResource), else "?".
// It returns "" when err is not a denial.
func DeniedAction(err error) string {
	ae, ok := apiErrorOf(err)
	if !ok || !deniedCodes[ae.ErrorCode()] {
		var re *smithyhttp.ResponseError
		if ok || !errors.As(err, &re) || re.HTTPStatusCode() != 403 {
			return ""
		}
		return "?"
	}
	if a := actionInMessage(ae.ErrorMessage()); a != "" {
		return a
	}
	return "?"
}

// actionInMessage finds "perform: service:Action" in a denial message.
func actionInMessage(msg string) string {
	_, rest, ok := strings.Cut(msg, "perform: ")
	if !ok {
		return ""
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return !isActionRune(r) })
	if end >= 0 {
		rest = rest[:end]
	}
	if !strings.Contains(rest, ":") {
		return ""
	}
	return rest
}

// isActionRune reports a rune that can be part of "service:Action".
func isActionRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ':' || r == '-'
}

func isUnknownOperation(err error) bool {
	if ae, ok := apiErrorOf(err); ok && unknownOperationCodes[ae.ErrorCode()] {
		return true
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == 501
}

// credentialsError is the failure to get credentials for a call: the SDK
// resolves them before signing, and a provider that calls AWS itself
// (AssumeRole, SSO) fails with its own operation error inside the call's.
type credentialsError struct{ Err error }

// credentialsErrorOf finds the failure to get credentials for a call: an
// AssumeRole refused by the role's trust policy, a profile without keys.
// Its inner error says whether it can pass.
func credentialsErrorOf(err error) (credentialsError, bool) {
	var se *v4.SigningError
	if errors.As(err, &se) {
		return credentialsError{Err: se.Err}, true
	}
	var outer *smithy.OperationError
	if !errors.As(err, &outer) {
		return credentialsError{}, false
	}
	var inner *smithy.OperationError
	if errors.As(outer.Err, &inner) && inner.ServiceID != outer.ServiceID {
		return credentialsError{Err: inner}, true
	}
	return credentialsError{}, false
}

// CredentialsNotObtained reports whether err is the SDK failing to obtain
// credentials before it could send a call (no keys, no profile, an expired
// SSO session), so that AWS never answered; cause is what the SDK said.
// AWS refusing the credentials it was sent is an answer, not this.
func CredentialsNotObtained(err error) (cause error, ok bool) {
	var se *v4.SigningError
	if errors.As(err, &se) {
		return se.Err, true
	}
	if !Answered(err) && strings.Contains(err.Error(), msgGetIdentity) {
		return err, true
	}
	return nil, false
}

// IsTaskDefinitionGone reports RunTask's answer for a task definition that
// was deregistered or never existed.
func IsTaskDefinitionGone(err error) bool {
	ae, ok := apiErrorOf(err)
	if !ok {
		return false
	}
	msg := ae.ErrorMessage()
	return containsFold(msg, msgTaskDefinitionInactive) || containsFold(msg, msgTaskDefinitionNotFound) || containsFold(msg, msgTaskDefinitionNotFound2)
}

// IsTaskNotFound reports StopTask's and DescribeTasks' answer for a task
// ECS does not know.
func IsTaskNotFound(err error) bool {
	ae, ok := apiErrorOf(err)
	if !ok {
		return false
	}
	msg := ae.ErrorMessage()
	return containsFold(msg, msgTaskNotFound) || containsFold(msg, msgTaskNotFound2)
}

// IsClusterNotFound reports an answer that names a cluster ECS does not
// have.
func IsClusterNotFound(err error) bool {
	ae, ok := apiErrorOf(err)
	return ok && ae.ErrorCode() == "ClusterNotFoundException"
}

// IsContextError reports an error caused by the caller's context ending.
func IsContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// SDKRetryable tells the SDK's retryer about the throttles that ECS reports
// under other codes, so that they are retried (and paced) like throttles.
var SDKRetryable = retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
	if _, ok := apiErrorOf(err); ok && IsThrottle(err) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
})

// SDKThrottle has the SDK's retryer count those throttles as throttles, so
// that adaptive mode slows its sending down for them too.
var SDKThrottle = retry.IsErrorThrottleFunc(func(err error) aws.Ternary {
	if _, ok := apiErrorOf(err); ok && IsThrottle(err) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
})

// Explain describes a failed call of op, made attempts times, in the
// worker's terms, with the advice that does not depend on the request
// (the launcher adds RunTask's own). An error that already is a
// *LaunchError is returned as it is.
func Explain(op string, err error, attempts int) *LaunchError {
	if le, ok := launchErrorOf(err); ok {
		return le
	}
	le := &LaunchError{Kind: KindOf(err), Op: op, Err: err, Attempts: attempts}
	if ae, ok := apiErrorOf(err); ok {
		le.AWSCode, le.AWSMessage = ae.ErrorCode(), ae.ErrorMessage()
	} else if f, ok := failureOf(err); ok {
		le.AWSCode, le.AWSMessage = f.Reason, f.Detail
	}
	switch le.Kind {
	case KindThrottled:
		le.Fix = "AWS kept throttling the calls; lower the number of flow runs submitted at once, or ask AWS for a higher API rate quota"
	case KindTransient:
		le.Fix = "This looks temporary (a server or network error, or no answer in time); it is retried on the next attempt"
	case KindUnavailable:
		le.Fix = unavailableFix(op, err)
	}
	if ce, ok := credentialsErrorOf(err); ok {
		le.Fix = "The AWS credentials could not be obtained (" + ce.Err.Error() + "); check the aws_credentials block: its keys, profile, or assume_role_arn with the role's trust policy and ExternalId"
	}
	switch le.AWSCode {
	case "ExpiredTokenException", "ExpiredToken", "InvalidClientTokenId", "UnrecognizedClientException":
		le.Fix = "The AWS credentials are invalid or expired; refresh them or check the aws_credentials block"
	}
	return le
}

// unavailableFix says what to grant, or that the endpoint lacks the action.
func unavailableFix(op string, err error) string {
	if isUnknownOperation(err) {
		return "The AWS endpoint does not implement " + QualifiedAction(op) + "; point the worker at an endpoint that does (aws_credentials.aws_client_parameters.endpoint_url, AWS_ENDPOINT_URL)"
	}
	action := DeniedAction(err)
	if action == "?" {
		action = QualifiedAction(op)
	}
	return "Grant the worker's AWS identity " + action + " (the message names the resource; 'ecsworker aws-policy --pool NAME' prints the whole policy)"
}

// QualifiedAction names an operation as IAM does ("ecs:RunTask").
func QualifiedAction(op string) string {
	if strings.Contains(op, ":") {
		return op
	}
	return serviceOf(op) + ":" + op
}

func serviceOf(op string) string {
	switch op {
	case "DescribeVpcs", "DescribeSubnets":
		return "ec2"
	case "GetLogEvents", "DescribeLogGroups":
		return "logs"
	case "GetQueueUrl", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch":
		return "sqs"
	}
	return "ecs"
}
