package lazyregexp

import (
	"sync"
	"testing"
)

func TestNewCompilesOnceOnFirstUse(t *testing.T) {
	re := New(`^[a-z]{1,3}$`)
	var wg sync.WaitGroup
	got := make([]bool, 8)
	for i := range got {
		wg.Go(func() { got[i] = re().MatchString("abc") })
	}
	wg.Wait()
	for i, ok := range got {
		if !ok {
			t.Errorf("call %d: %q did not match", i, "abc")
		}
	}
	if first, second := re(), re(); first != second {
		t.Error("two calls returned different *regexp.Regexp values: the pattern was compiled more than once")
	}
}

func TestNewPanicsOnFirstUseOfABadPattern(t *testing.T) {
	re := New(`(`) // must not panic here
	defer func() {
		if recover() == nil {
			t.Error("a pattern that does not compile did not panic on first use")
		}
	}()
	re()
}
