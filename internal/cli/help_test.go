package cli

import (
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// talksToPrefect lists the commands that take --api-url and --profile. A
// new command must be added here or get neither: on a command that never
// reaches Prefect the flags would be accepted and do nothing.
var talksToPrefect = map[string]bool{
	"ecsworker render":               true,
	"ecsworker work-pool create":     true,
	"ecsworker work-pool update":     true,
	"ecsworker work-pool inspect":    true,
	"ecsworker work-pool ls":         true,
	"ecsworker work-pool delete":     true,
	"ecsworker worker start":         true,
	"ecsworker infra deploy-service": true,
	"ecsworker infra deploy-events":  true,
	"ecsworker aws-policy":           true,
	"ecsworker doctor":               true,
	"ecsworker starts":               true,
	"ecsworker deployment run":       true,
}

// withoutExample are the runnable commands that need no example.
var withoutExample = map[string]bool{
	"ecsworker version": true,
}

func runnable(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Runnable() && !c.Hidden {
			out = append(out, c)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return out
}

func TestPrefectFlagsOnlyWhereUsed(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range runnable(newRoot(IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})) {
		path := c.CommandPath()
		seen[path] = true
		for _, flag := range []string{"api-url", "profile"} {
			f := c.LocalFlags().Lookup(flag)
			if f == nil {
				f = c.InheritedFlags().Lookup(flag)
			}
			has := f != nil && !f.Hidden
			if has != talksToPrefect[path] {
				t.Errorf("%s: --%s shown = %v, want %v", path, flag, has, talksToPrefect[path])
			}
		}
	}
	var missing []string
	for path := range talksToPrefect {
		if !seen[path] {
			missing = append(missing, path)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no such commands: %v", missing)
	}
}

func TestEveryCommandHasAnExample(t *testing.T) {
	for _, c := range runnable(newRoot(IO{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})) {
		if c.Example == "" && !withoutExample[c.CommandPath()] {
			t.Errorf("%s has no example", c.CommandPath())
		}
		for _, line := range strings.Split(c.Example, "\n") {
			if line != "" && !strings.HasPrefix(line, "  ") {
				t.Errorf("%s: example line %q is not indented by two spaces like the others", c.CommandPath(), line)
			}
		}
	}
}
