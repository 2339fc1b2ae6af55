// WireBody is test-only: the tests use it to compare the JSON the worker
// builds with the body the SDK would send. Nothing in the release binary
// needs it, so it lives in a _test.go file of the package.

package ecsshape

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// WireBody returns the JSON body that aws-sdk-go-v2 would send for input, a
// pointer to the input struct of operation op (see Check for the names).
//
// It runs the real ecs.Client method, so the SDK's own validation and
// serializer are used, and stops the request at the end of the Finalize step,
// after everything that could touch the body and before any network I/O.
// One deliberate difference: the SDK would fill a missing RunTask clientToken
// with a random UUID; WireBody leaves it out so that its output is
// deterministic and comparable with the JSON it was built from.
//
// When the SDK rejects the input (a required member is missing), the error is
// a *ValidationError naming the members by their JSON paths.
func WireBody(ctx context.Context, op string, input any) ([]byte, error) {
	o, err := lookupOperation(op)
	if err != nil {
		return nil, err
	}
	if reflect.TypeOf(input) != o.inputType || reflect.ValueOf(input).IsNil() {
		return nil, fmt.Errorf("ecsshape: %s needs a non-nil %s, got %T", op, o.inputType, input)
	}
	capture := &captureBody{}
	err = o.call(ctx, offlineClient(), input, func(opts *ecs.Options) {
		// The token provider fills clientToken in the caller's input as a
		// side effect; a nil provider disables that for this call only.
		opts.IdempotencyTokenProvider = nil
		opts.APIOptions = append(opts.APIOptions, func(s *middleware.Stack) error {
			return s.Finalize.Add(capture, middleware.After)
		})
	})
	if errors.Is(err, errCaptured) {
		return capture.body, nil
	}
	var invalid smithy.InvalidParamsError
	if errors.As(err, &invalid) {
		return nil, newValidationError(op, invalid)
	}
	if err == nil {
		return nil, fmt.Errorf("ecsshape: %s finished without reaching the capture step", op)
	}
	return nil, fmt.Errorf("ecsshape: serializing %s: %w", op, err)
}

// errCaptured stops the middleware stack once the body has been read; it
// never escapes WireBody.
var errCaptured = errors.New("ecsshape: request body captured")

type captureBody struct {
	body []byte
}

func (*captureBody) ID() string { return "ecsshape.CaptureBody" }

func (c *captureBody) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error,
) {
	req, ok := in.Request.(*smithyhttp.Request)
	if !ok {
		return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("ecsshape: unexpected transport request %T", in.Request)
	}
	// Payload hashing for the signature has already read the stream.
	if req.IsStreamSeekable() {
		if err := req.RewindStream(); err != nil {
			return middleware.FinalizeOutput{}, middleware.Metadata{}, err
		}
	}
	if s := req.GetStream(); s != nil {
		b, err := io.ReadAll(s)
		if err != nil {
			return middleware.FinalizeOutput{}, middleware.Metadata{}, err
		}
		c.body = b
	}
	return middleware.FinalizeOutput{}, middleware.Metadata{}, errCaptured
}

// offlineClient is shared because building a client resolves endpoints,
// signers and retryers; per-call settings go through operation options.
// Static credentials and a fixed region keep it from looking at the
// environment, and the HTTP client refuses to send in case a future SDK
// reorders the stack so that capture no longer runs first.
var offlineClient = sync.OnceValue(func() *ecs.Client {
	return ecs.New(ecs.Options{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDECSSHAPE", "ecsshape-offline", ""),
		Retryer:     aws.NopRetryer{},
		HTTPClient:  noNetwork{},
	})
})

type noNetwork struct{}

func (noNetwork) Do(*http.Request) (*http.Response, error) {
	return nil, errors.New("ecsshape: refusing to send a request over the network")
}

// ValidationError reports that the SDK's parameter validation rejected an
// input, typically because a required member is missing.
type ValidationError struct {
	Op       string
	Problems []Problem
	Err      error // the SDK's smithy.InvalidParamsError
}

func (e *ValidationError) Error() string {
	msg := "ecsshape: the SDK rejects this " + e.Op + " request:"
	if len(e.Problems) == 1 {
		return msg + " " + e.Problems[0].String()
	}
	for _, p := range e.Problems {
		msg += "\n- " + p.String()
	}
	return msg
}

func (e *ValidationError) Unwrap() error { return e.Err }

func newValidationError(op string, invalid smithy.InvalidParamsError) *ValidationError {
	ve := &ValidationError{Op: op, Err: invalid}
	for _, err := range invalid.Errs() {
		var pe smithy.InvalidParamError
		if !errors.As(err, &pe) {
			ve.Problems = append(ve.Problems, Problem{Message: err.Error()})
			continue
		}
		path := sdkFieldPath(pe.Field())
		msg := strings.TrimSuffix(pe.Error(), ", "+pe.Field()+".")
		var req *smithy.ParamRequiredError
		if errors.As(err, &req) {
			msg = "missing required field"
		}
		ve.Problems = append(ve.Problems, Problem{Path: path, Message: msg})
	}
	return ve
}

// sdkFieldPath turns the validator's Go path ("RunTaskInput.Overrides.
// ContainerOverrides[0].Name", with union members as "[nvidiaMps]") into
// the JSON path Decode uses ("overrides.containerOverrides[0].name").
func sdkFieldPath(field string) string {
	segs := strings.Split(field, ".")
	if len(segs) > 1 && strings.HasSuffix(segs[0], "Input") {
		segs = segs[1:]
	}
	path := ""
	for _, s := range segs {
		name, rest, _ := strings.Cut(s, "[")
		if name != "" {
			path = joinKey(path, wireName(name))
		}
		for rest != "" {
			var sub string
			sub, rest, _ = strings.Cut(rest, "]")
			rest = strings.TrimPrefix(rest, "[")
			if _, err := strconv.Atoi(sub); err == nil {
				path += "[" + sub + "]"
			} else {
				path = joinKey(path, sub)
			}
		}
	}
	return path
}
