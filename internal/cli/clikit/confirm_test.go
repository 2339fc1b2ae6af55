package clikit

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

// asTerminal makes the CLI take any standard input for a terminal, as if
// someone were there to answer.
func asTerminal(t *testing.T) {
	t.Helper()
	prev := isTerminal
	isTerminal = func(io.Reader) bool { return true }
	t.Cleanup(func() { isTerminal = prev })
}

func TestIsTerminal(t *testing.T) {
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = devNull.Close() }()
	// /dev/null is a character device, which the CLI once took for a
	// terminal: cron jobs were asked a question and read "no".
	if isTerminal(devNull) || IsTerminalWriter(devNull) {
		t.Errorf("%s taken for a terminal", os.DevNull)
	}
	if isTerminal(strings.NewReader("y\n")) || IsTerminalWriter(&bytes.Buffer{}) {
		t.Errorf("an in-memory stream taken for a terminal")
	}
	file, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = file.Close() }()
	if isTerminal(file) {
		t.Errorf("a regular file taken for a terminal")
	}
}

func TestConfirm(t *testing.T) {
	tests := map[string]struct {
		terminal bool
		answer   string
		code     int // 0: confirmed
		want     string
	}{
		"no terminal":        {answer: "y\n", code: ExitInvalid, want: `deleting work pool "etl" needs confirmation, and standard input is not a terminal to ask on: pass --yes`},
		"yes":                {terminal: true, answer: "y\n"},
		"YES with spaces":    {terminal: true, answer: "  YES \n"},
		"yes without return": {terminal: true, answer: "yes"},
		"no":                 {terminal: true, answer: "n\n", code: ExitError, want: `aborted: deleting work pool "etl" was not confirmed`},
		"just return":        {terminal: true, answer: "\n", code: ExitError, want: "not confirmed"},
		"end of input":       {terminal: true, answer: "", code: ExitError, want: "not confirmed"},
		"anything else":      {terminal: true, answer: "sure\n", code: ExitError, want: "not confirmed"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.terminal {
				asTerminal(t)
			}
			var errb bytes.Buffer
			err := Confirm(IO{In: strings.NewReader(tc.answer), Err: &errb}, `deleting work pool "etl"`, `Delete work pool "etl"?`)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("not confirmed: %v", err)
				}
			} else {
				var ce *CodedError
				if !errors.As(err, &ce) || ce.Code != tc.code || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want exit %d and %q", err, tc.code, tc.want)
				}
			}
			asked := strings.Contains(errb.String(), `Delete work pool "etl"? [y/N] `)
			if asked != tc.terminal {
				t.Errorf("asked = %v on terminal = %v: %q", asked, tc.terminal, errb.String())
			}
		})
	}
}
