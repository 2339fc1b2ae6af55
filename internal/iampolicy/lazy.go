package iampolicy

import (
	"regexp"
	"sync"
)

// lazyRegexp compiles expr on first use. Patterns with counted repeats
// ({1,255}) compile to large programs: compiled at start-up they would cost
// every run of the binary, the worker's included, which never checks ARNs.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
