package jobconfig

import (
	"fmt"
	"strings"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// Problem is one reason a job configuration cannot run. It names the job
// variable (or request path) at fault, the value it had and what to change,
// because the person reading it is usually editing a deployment's job
// variables and needs to know which one.
type Problem struct {
	Field    string // job variable, or a path such as task_definition.containerDefinitions[0].name
	Value    any    // the offending value (a jsonv value); shown only when HasValue
	HasValue bool
	Message  string // what is wrong
	Fix      string // what to do about it
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Field)
	if p.HasValue {
		b.WriteString(" = ")
		b.WriteString(ShowValue(p.Value))
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	if p.Fix != "" {
		b.WriteString(" Fix: ")
		b.WriteString(p.Fix)
	}
	return b.String()
}

// ShowValue prints a value compactly for a message, cut short so that a
// whole task definition never floods the terminal.
func ShowValue(v any) string {
	b, err := jsonv.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	const limit = 160
	if r := []rune(string(b)); len(r) > limit {
		return string(r[:limit]) + "…"
	}
	return string(b)
}

// ValidationError holds every problem found in one job configuration, so a
// user fixes them all in one edit instead of one per failed flow run.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid ECS job configuration: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid ECS job configuration (%d problems):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Warning is something that will run but probably not as the user meant.
type Warning struct {
	Field   string
	Message string
}

func (w Warning) String() string { return w.Field + ": " + w.Message }

// Collector gathers problems and warnings while a configuration is checked,
// in the order they are found: the parse, the request builders and the
// checks of one job all report into the same one.
type Collector struct {
	Problems []Problem
	Warnings []Warning
}

// Fail records a problem with the value at fault.
func (c *Collector) Fail(field string, value any, msg, fix string) {
	c.Problems = append(c.Problems, Problem{Field: field, Value: value, HasValue: true, Message: msg, Fix: fix})
}

// FailNoValue records a problem whose value is not worth showing (absent,
// or too large to help).
func (c *Collector) FailNoValue(field, msg, fix string) {
	c.Problems = append(c.Problems, Problem{Field: field, Message: msg, Fix: fix})
}

// Warn records a warning.
func (c *Collector) Warn(field, format string, args ...any) {
	c.Warnings = append(c.Warnings, Warning{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns the problems as one *ValidationError, or nil when there is none.
func (c *Collector) Err() error {
	if len(c.Problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: c.Problems}
}
