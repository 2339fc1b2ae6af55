package ecsjob

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
		b.WriteString(showValue(p.Value))
	}
	b.WriteString(": ")
	b.WriteString(p.Message)
	if p.Fix != "" {
		b.WriteString(" Fix: ")
		b.WriteString(p.Fix)
	}
	return b.String()
}

// showValue prints a value compactly for a message, cut short so that a
// whole task definition never floods the terminal.
func showValue(v any) string {
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

// collector gathers problems and warnings while a configuration is checked.
type collector struct {
	problems []Problem
	warnings []Warning
}

func (c *collector) fail(field string, value any, msg, fix string) {
	c.problems = append(c.problems, Problem{Field: field, Value: value, HasValue: true, Message: msg, Fix: fix})
}

func (c *collector) failNoValue(field, msg, fix string) {
	c.problems = append(c.problems, Problem{Field: field, Message: msg, Fix: fix})
}

func (c *collector) warn(field, format string, args ...any) {
	c.warnings = append(c.warnings, Warning{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *collector) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: c.problems}
}
