package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/fakes/prefectfake"
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
	if isTerminal(devNull) || isTerminalWriter(devNull) {
		t.Errorf("%s taken for a terminal", os.DevNull)
	}
	if isTerminal(strings.NewReader("y\n")) || isTerminalWriter(&bytes.Buffer{}) {
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
		"no terminal":        {answer: "y\n", code: exitInvalid, want: `deleting work pool "etl" needs confirmation, and standard input is not a terminal to ask on: pass --yes`},
		"yes":                {terminal: true, answer: "y\n"},
		"YES with spaces":    {terminal: true, answer: "  YES \n"},
		"yes without return": {terminal: true, answer: "yes"},
		"no":                 {terminal: true, answer: "n\n", code: exitError, want: `aborted: deleting work pool "etl" was not confirmed`},
		"just return":        {terminal: true, answer: "\n", code: exitError, want: "not confirmed"},
		"end of input":       {terminal: true, answer: "", code: exitError, want: "not confirmed"},
		"anything else":      {terminal: true, answer: "sure\n", code: exitError, want: "not confirmed"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.terminal {
				asTerminal(t)
			}
			var errb bytes.Buffer
			err := confirm(IO{In: strings.NewReader(tc.answer), Err: &errb}, `deleting work pool "etl"`, `Delete work pool "etl"?`)
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("not confirmed: %v", err)
				}
			} else {
				var ce *codedError
				if !errors.As(err, &ce) || ce.code != tc.code || !strings.Contains(err.Error(), tc.want) {
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

// TestWorkPoolDeleteAsks runs delete through Main as a person at a
// terminal would: the answer decides.
func TestWorkPoolDeleteAsks(t *testing.T) {
	s := prefectfake.NewTestServer(t, prefectfake.Options{})
	t.Setenv("PREFECT_HOME", t.TempDir())
	t.Setenv("PREFECT_API_URL", s.URL())
	t.Setenv("PREFECT_API_KEY", "")
	t.Setenv("PREFECT_API_AUTH_STRING", "")
	s.CreateWorkPool("etl", "ecs", nil)
	asTerminal(t)
	deleteWith := func(answer string) (int, string) {
		var errb bytes.Buffer
		code := Main(context.Background(), []string{"work-pool", "delete", "etl"}, IO{In: strings.NewReader(answer), Out: io.Discard, Err: &errb})
		return code, errb.String()
	}
	if code, stderr := deleteWith("n\n"); code != exitError || s.WorkPool("etl") == nil || !strings.Contains(stderr, "not confirmed") {
		t.Fatalf("answered n: exit %d, pool %v\n%s", code, s.WorkPool("etl"), stderr)
	}
	if code, stderr := deleteWith("y\n"); code != exitOK || s.WorkPool("etl") != nil || !strings.Contains(stderr, `Deleted work pool "etl"`) {
		t.Fatalf("answered y: exit %d, pool %v\n%s", code, s.WorkPool("etl"), stderr)
	}
}
