package doctor

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/smithy-go"

	"github.com/ecsworker/ecsworker/internal/awserr"
)

// awsMessage is what AWS said, without the SDK's wrapping: "message
// (Code)", or the error itself when AWS gave no answer.
func awsMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if ae.ErrorMessage() == "" {
			return ae.ErrorCode()
		}
		return ae.ErrorMessage() + " (" + ae.ErrorCode() + ")"
	}
	return err.Error()
}

// callFailed is the check of a subject whose own AWS call (action, as
// IAM names it) failed for a reason that says nothing about the subject:
// a refused call is skipped with the action to grant; anything else means
// the subject could not be checked, which fails.
func (r *runner) callFailed(action string, err error) Check {
	if r.ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return Check{Status: Skipped, Detail: "not checked: doctor was interrupted"}
	}
	switch awserr.KindOf(err) {
	case awserr.KindUnavailable:
		return Check{Status: Skipped, Action: action,
			Detail: fmt.Sprintf("not checked: AWS refused %s to this identity: %s", action, awsMessage(err))}
	case awserr.KindThrottled, awserr.KindTransient:
		return Check{Status: Fail,
			Detail: fmt.Sprintf("could not be checked: %s got no usable answer: %s", action, awsMessage(err)),
			Fix:    "This looks temporary (AWS throttled the calls, or did not answer in time); run ecsworker doctor again"}
	}
	return Check{Status: Fail,
		Detail: fmt.Sprintf("could not be checked: AWS refused %s: %s", action, awsMessage(err)),
		Fix:    "Correct the value AWS refused (see the message), then run ecsworker doctor again"}
}

// refused reports whether err is AWS refusing the action to the identity
// (or the endpoint not offering it).
func refused(err error) bool { return awserr.IsUnavailable(err) }
