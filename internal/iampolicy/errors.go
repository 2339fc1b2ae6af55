package iampolicy

import (
	"strconv"
	"strings"
)

// InputError is one value the generator cannot write a policy for.
type InputError struct {
	// Job names the job the value comes from ("flow/deployment"); empty
	// for the worker's own options.
	Job string
	// Field is the job variable or option that holds the value.
	Field   string
	Value   string
	Problem string
	Fix     string
}

func (e InputError) Error() string {
	var b strings.Builder
	if e.Job != "" {
		b.WriteString(e.Job + ": ")
	}
	b.WriteString(e.Field + " " + strconv.Quote(e.Value) + ": " + e.Problem)
	if e.Fix != "" {
		b.WriteString(" " + e.Fix)
	}
	return b.String()
}

// InputErrors are every problem of one input, reported together.
type InputErrors []InputError

func (e InputErrors) Error() string {
	if len(e) == 1 {
		return e[0].Error()
	}
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = "- " + p.Error()
	}
	return strconv.Itoa(len(e)) + " problems:\n" + strings.Join(lines, "\n")
}

func errOrNil(errs []InputError) error {
	if len(errs) == 0 {
		return nil
	}
	return InputErrors(errs)
}
