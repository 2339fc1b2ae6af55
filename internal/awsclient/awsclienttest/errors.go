package awsclienttest

import (
	"errors"
	"net"
	"net/http"
	"os"
	"syscall"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Unit tests of what the worker does with AWS failures build the errors
// here, wrapped exactly as the SDK returns them, so that the
// classification (internal/awserr) sees what it sees in production.

// Answer is an AWS error answer: the API error inside the HTTP response
// error inside the operation error. A status of 500 or more is a server
// fault.
func Answer(op, code, msg string, status int) error {
	fault := smithy.FaultClient
	if status >= 500 {
		fault = smithy.FaultServer
	}
	return &smithy.OperationError{ServiceID: "ECS", OperationName: op, Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      &smithy.GenericAPIError{Code: code, Message: msg, Fault: fault},
		},
		RequestID: "req-1",
	}}
}

// Unanswered is an AWS call whose connection broke: no answer, no code.
func Unanswered(op string) error {
	return &smithy.OperationError{ServiceID: "ECS", OperationName: op, Err: &smithyhttp.RequestSendError{
		Err: &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)},
	}}
}

// StatusOnly is an AWS answer whose body the SDK could not read: only its
// HTTP status tells what it was.
func StatusOnly(op string, status int) error {
	return &smithy.OperationError{ServiceID: "ECS", OperationName: op, Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      errors.New("unreadable error body"),
	}}
}
