// Package lazyregexp holds regular expressions that are compiled on first
// use instead of at package initialisation.
//
// Go runs the initialisation of every package linked into a binary before
// main, whatever the command: a pattern compiled into a package-level
// variable is paid for by every start of ecsworker, the worker's included,
// even when nothing on that path ever matches it. Patterns with counted
// repeats ({1,255}, {0,127}) compile into large programs and cost up to a
// millisecond each. cmd/ecsworker's tests refuse package-level compiles in
// internal/.
package lazyregexp

import (
	"regexp"
	"sync"
)

// New returns a function that compiles expr on its first call and returns
// the same *regexp.Regexp on every call, safe for concurrent use. Like
// regexp.MustCompile it panics if expr does not compile, on first use
// rather than at start-up: every pattern should be exercised by a test.
func New(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
