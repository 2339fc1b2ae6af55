// Package clikit is what every ecsworker command shares: where commands
// read and write, exit codes and the errors that carry them, the reading
// of input files, confirmation on a terminal, the Prefect and AWS flags,
// and the reading of an ecs work pool.
package clikit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ecsworker/ecsworker/internal/lazyregexp"
	"github.com/ecsworker/ecsworker/internal/redact"
)

// IO is where a command reads and writes: data on Out, messages on Err.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Exit codes.
const (
	ExitOK      = 0
	ExitError   = 1 // the command failed
	ExitInvalid = 2 // bad flags, bad input files, or an invalid job configuration
)

// CodedError carries the exit code for an error; its message has already
// been printed when Printed is set.
type CodedError struct {
	Code    int
	Err     error
	Printed bool
}

func (e *CodedError) Error() string { return e.Err.Error() }
func (e *CodedError) Unwrap() error { return e.Err }

// Invalid is an error of exit code ExitInvalid with a formatted message.
func Invalid(format string, args ...any) error {
	return &CodedError{Code: ExitInvalid, Err: fmt.Errorf(format, args...)}
}

// DefaultImage runs flows whose job names no image. Prefect publishes it
// for every Prefect 3 release.
const DefaultImage = "prefecthq/prefect:3-latest"

// EnvOr is the environment variable name, or fallback when it is unset or
// empty.
func EnvOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

var uuidPattern = lazyregexp.New(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// IsUUID tells an id from a name.
func IsUUID(s string) bool { return uuidPattern().MatchString(s) }

// SecretEnvValues are the secret values of this process's environment,
// masked wherever they might be echoed back in a message.
func SecretEnvValues() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if redact.SensitiveName(k) && v != "" {
			out = append(out, v)
		}
	}
	return out
}

// ServeUntilDone serves h on ln until ctx ends, then shuts down within a
// bounded time.
func ServeUntilDone(ctx context.Context, ln net.Listener, h http.Handler) error {
	server := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- server.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
