package pycompat_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/pycompat"
)

// The expected words come from CPython 3.11's shlex.split(in) (posix mode,
// no comments), whose splitting rules have not changed since 3.6.
func TestSplitCommand(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   string
		want []string
	}{
		"prefect command":                                  {in: "prefect flow-run execute", want: []string{"prefect", "flow-run", "execute"}},
		"python -c with inner single quotes":               {in: `python -c "print('hi there')"`, want: []string{"python", "-c", "print('hi there')"}},
		"empty string":                                     {in: "", want: []string{}},
		"only whitespace":                                  {in: " \t\r\n ", want: []string{}},
		"leading and trailing whitespace":                  {in: "  a  b  ", want: []string{"a", "b"}},
		"tabs and newlines separate":                       {in: "a\tb\nc\rd", want: []string{"a", "b", "c", "d"}},
		"vertical tab and form feed are not whitespace":    {in: "a\vb\fc", want: []string{"a\vb\fc"}},
		"single quotes keep spaces":                        {in: "echo 'a  b'", want: []string{"echo", "a  b"}},
		"single quotes keep backslashes":                   {in: `echo 'a\nb\\c\'`, want: []string{"echo", `a\nb\\c\`}},
		"single quotes keep double quotes":                 {in: `echo 'say "hi"'`, want: []string{"echo", `say "hi"`}},
		"double quotes keep single quotes":                 {in: `echo "it's"`, want: []string{"echo", "it's"}},
		"double quote escapes double quote":                {in: `echo "a\"b"`, want: []string{"echo", `a"b`}},
		"double quote escapes backslash":                   {in: `echo "a\\b"`, want: []string{"echo", `a\b`}},
		"double quote keeps backslash before dollar":       {in: `echo "\$x"`, want: []string{"echo", `\$x`}},
		"double quote keeps backslash before n":            {in: `echo "a\nb"`, want: []string{"echo", `a\nb`}},
		"double quote keeps backslash before single quote": {in: `echo "a\'b"`, want: []string{"echo", `a\'b`}},
		"double quote keeps backslash before backtick":     {in: "echo \"\\`cmd\\`\"", want: []string{"echo", "\\`cmd\\`"}},
		"unquoted backslash escapes space":                 {in: `a\ b c`, want: []string{"a b", "c"}},
		"unquoted backslash escapes quote":                 {in: `a\'b \"c`, want: []string{"a'b", `"c`}},
		"unquoted backslash escapes backslash":             {in: `a\\b`, want: []string{`a\b`}},
		"unquoted backslash before letter drops backslash": {in: `\a\b`, want: []string{"ab"}},
		"backslash newline is kept as newline":             {in: "a\\\nb", want: []string{"a\nb"}},
		"adjacent quoted and unquoted parts join":          {in: `a'b'"c"d`, want: []string{"abcd"}},
		"quoted empty string is a word":                    {in: "a '' b", want: []string{"a", "", "b"}},
		"double quoted empty string is a word":             {in: `a "" b`, want: []string{"a", "", "b"}},
		"only empty quotes":                                {in: "''", want: []string{""}},
		"two empty quoted words":                           {in: `'' ""`, want: []string{"", ""}},
		"empty quotes glued to word":                       {in: "a'' ''b", want: []string{"a", "b"}},
		"no variable expansion":                            {in: "echo $HOME ${USER}", want: []string{"echo", "$HOME", "${USER}"}},
		"no glob expansion":                                {in: "ls *.py ?", want: []string{"ls", "*.py", "?"}},
		"no tilde expansion":                               {in: "cd ~/x", want: []string{"cd", "~/x"}},
		"hash is not a comment":                            {in: "echo a # b", want: []string{"echo", "a", "#", "b"}},
		"hash inside word":                                 {in: "a#b", want: []string{"a#b"}},
		"shell operators are ordinary":                     {in: "a|b && c; d > e", want: []string{"a|b", "&&", "c;", "d", ">", "e"}},
		"unicode words":                                    {in: "grüße 日本 'ünï cödé'", want: []string{"grüße", "日本", "ünï cödé"}},
		"escaped unicode":                                  {in: "\\é", want: []string{"é"}},
		"whitespace inside double quotes":                  {in: "\"a\tb\nc\"", want: []string{"a\tb\nc"}},
		"json argument":                                    {in: `--params '{"a": [1, 2], "b": "x y"}'`, want: []string{"--params", `{"a": [1, 2], "b": "x y"}`}},
		"double quotes inside single inside word":          {in: `x'"'y"'"z`, want: []string{`x"y'z`}},
		"sh -c script":                                     {in: `sh -c 'echo "$1" && exit 0' --`, want: []string{"sh", "-c", `echo "$1" && exit 0`, "--"}},
		"many spaces between":                              {in: "a          b", want: []string{"a", "b"}},
		"trailing escaped space":                           {in: `a\ `, want: []string{"a "}},
		"escaped newline at end":                           {in: "a\\\n", want: []string{"a\n"}},
		"equals and flags":                                 {in: `--opt="a b" -x`, want: []string{"--opt=a b", "-x"}},
		"carriage return inside single quotes":             {in: "'a\rb'", want: []string{"a\rb"}},
		"nul byte":                                         {in: "a\u0000b", want: []string{"a\u0000b"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := pycompat.SplitCommand(tc.in)
			if err != nil {
				t.Fatalf("SplitCommand(%q) error: %v", tc.in, err)
			}
			if got == nil {
				t.Fatalf("SplitCommand(%q) = nil, want a non-nil slice", tc.in)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("SplitCommand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSplitCommandErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   string
		want error
	}{
		"unclosed single quote":                        {in: "echo 'a", want: pycompat.ErrNoClosingQuotation},
		"unclosed double quote":                        {in: `echo "a`, want: pycompat.ErrNoClosingQuotation},
		"only open quote":                              {in: "'", want: pycompat.ErrNoClosingQuotation},
		"unclosed quote after word":                    {in: `a b"c d`, want: pycompat.ErrNoClosingQuotation},
		"escaped closing double quote":                 {in: `"a\"`, want: pycompat.ErrNoClosingQuotation},
		"trailing backslash":                           {in: `echo a\`, want: pycompat.ErrNoEscapedCharacter},
		"lone backslash":                               {in: `\`, want: pycompat.ErrNoEscapedCharacter},
		"trailing backslash inside double quotes":      {in: `echo "a\`, want: pycompat.ErrNoEscapedCharacter},
		"backslash inside single quotes then unclosed": {in: `'a\`, want: pycompat.ErrNoClosingQuotation},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := pycompat.SplitCommand(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("SplitCommand(%q) = %q, %v; want error %v", tc.in, got, err, tc.want)
			}
			if got != nil {
				t.Errorf("SplitCommand(%q) returned words %q along with an error", tc.in, got)
			}
			if !strings.Contains(err.Error(), strconv.Quote(tc.in)) {
				t.Errorf("error %q does not quote the command %q", err, tc.in)
			}
		})
	}
}

func TestSplitCommandErrorMessage(t *testing.T) {
	t.Parallel()
	_, err := pycompat.SplitCommand("echo 'a")
	if got, want := err.Error(), `command "echo 'a": no closing quotation`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	_, err = pycompat.SplitCommand(`echo \`)
	if got, want := err.Error(), `command "echo \\": no escaped character`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// shellQuote is Python's shlex.quote: words made only of safe characters
// stay bare, anything else is single-quoted with each ' written as '"'"'.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !isShellSafe(r) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

func isShellSafe(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
		strings.ContainsRune("@%+=:,./-_", r)
}

func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{
		"prefect flow-run execute",
		`python -c "print('hi there')"`,
		`a\ b "c\"d\$e" 'f\g' ''`,
		`x'"'y"'"z`,
		"echo 'a",
		`echo \`,
		"\"\\",
		"a\tb\nc\rd\ve",
		"\xff\xfe 'é'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := pycompat.SplitCommand(s)
		if err != nil {
			if !errors.Is(err, pycompat.ErrNoClosingQuotation) && !errors.Is(err, pycompat.ErrNoEscapedCharacter) {
				t.Fatalf("SplitCommand(%q): unexpected error kind: %v", s, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("error %q does not quote the command %q", err, s)
			}
			return
		}

		// Quoting the words the way shlex.quote does and splitting again
		// must give the same words back, whatever they contain.
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = shellQuote(w)
		}
		again, err := pycompat.SplitCommand(strings.Join(quoted, " "))
		if err != nil || !slices.Equal(again, words) {
			t.Fatalf("round trip of %q via %q = %q, %v", words, strings.Join(quoted, " "), again, err)
		}

		// Words made of characters with no special meaning, joined by
		// single spaces, split back into exactly those words.
		var simple []string
		for _, field := range strings.Fields(s) {
			w := strings.Map(func(r rune) rune {
				if isShellSafe(r) {
					return r
				}
				return -1
			}, field)
			if w != "" {
				simple = append(simple, w)
			}
		}
		got, err := pycompat.SplitCommand(strings.Join(simple, " "))
		if err != nil || !slices.Equal(got, simple) {
			t.Fatalf("SplitCommand(%q) = %q, %v; want %q", strings.Join(simple, " "), got, err, simple)
		}
	})
}
