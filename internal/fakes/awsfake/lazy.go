package awsfake

import (
	"regexp"
	"sync"
)

// lazyRegexp compiles expr on first use. Patterns with counted repeats
// ({1,512}) compile to large programs: compiled at start-up they would cost
// every run of the binary, which serves this fake only for sandbox and dev.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
