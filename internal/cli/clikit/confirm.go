package clikit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// isTerminal tells whether r is a terminal someone can answer a question
// on. Being a character device is not enough: /dev/null is one, and it is
// the standard input of cron jobs and many CI runners. Tests replace it.
var isTerminal = func(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// IsTerminalWriter tells whether w is a terminal, where progress can be
// redrawn in place.
func IsTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Confirm asks question on a terminal and returns nil when the answer is
// yes. Without a terminal nobody can answer: it refuses, naming --yes,
// rather than reading end of file as "no" (or, as Prefect does, as "yes":
// a destructive command in a script should say so on its command line).
// action names what is asked, e.g. `deleting work pool "etl"`.
func Confirm(stdio IO, action, question string) error {
	if !isTerminal(stdio.In) {
		return Invalid("%s needs confirmation, and standard input is not a terminal to ask on: pass --yes to go ahead without asking", action)
	}
	fmt.Fprintf(stdio.Err, "%s [y/N] ", question)
	answer, err := bufio.NewReader(stdio.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return &CodedError{Code: ExitError, Err: fmt.Errorf("%s: cannot read the answer: %w", action, err)}
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return &CodedError{Code: ExitError, Err: fmt.Errorf("aborted: %s was not confirmed, so nothing was changed", action)}
}
