package pycompat

import (
	"errors"
	"fmt"
)

// Python's shlex raises ValueError with these messages. They are sentinels so
// callers can tell a malformed command from other failures with errors.Is,
// while the wrapped message still names the command the user wrote.
var (
	ErrNoClosingQuotation = errors.New("no closing quotation")
	ErrNoEscapedCharacter = errors.New("no escaped character")
)

// badCommand quotes the whole command so the error can be traced back to the
// deployment setting that produced it.
const badCommand = "command %q: %w"

// SplitCommand splits a command line into words exactly as Python's
// shlex.split(s, comments=False, posix=True) does. The Python worker turns
// the configured command into the container's command override this way, so
// any other splitting rule (a real shell's, or strings.Fields) would hand ECS
// different arguments for the same deployment.
//
// Only quoting and backslashes are interpreted: there is no variable, glob or
// tilde expansion, and '#' is an ordinary character. Every special character
// is ASCII, so the input is walked byte by byte and any other bytes, valid
// UTF-8 or not, are copied through untouched.
func SplitCommand(s string) ([]string, error) {
	// shlex.read_token also tracks "between words" and "after a backslash"
	// as states; here the first is !inWord and the second is handled by
	// consuming the escaped byte at once, which behaves identically.
	const (
		unquoted = iota
		inSingle
		inDouble
	)
	words := []string{}
	var (
		word   []byte
		inWord bool // a word has started, even if it is still empty (e.g. after '')
		state  = unquoted
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch state {
		case unquoted:
			switch c {
			case ' ', '\t', '\r', '\n':
				if inWord {
					words = append(words, string(word))
					word, inWord = word[:0], false
				}
			case '\'':
				inWord, state = true, inSingle
			case '"':
				inWord, state = true, inDouble
			case '\\':
				if i+1 == len(s) {
					return nil, fmt.Errorf(badCommand, s, ErrNoEscapedCharacter)
				}
				i++
				word, inWord = append(word, s[i]), true
			default:
				word, inWord = append(word, c), true
			}
		case inSingle:
			if c == '\'' {
				state = unquoted
			} else {
				word = append(word, c)
			}
		case inDouble:
			switch c {
			case '"':
				state = unquoted
			case '\\':
				if i+1 == len(s) {
					// shlex reports the backslash before noticing the open quote.
					return nil, fmt.Errorf(badCommand, s, ErrNoEscapedCharacter)
				}
				i++
				// POSIX shells keep the backslash before characters that have
				// no special meaning inside double quotes; shlex only treats
				// the quote itself and the backslash as special there.
				if n := s[i]; n != '"' && n != '\\' {
					word = append(word, '\\')
				}
				word = append(word, s[i])
			default:
				word = append(word, c)
			}
		}
	}
	if state != unquoted {
		return nil, fmt.Errorf(badCommand, s, ErrNoClosingQuotation)
	}
	if inWord {
		words = append(words, string(word))
	}
	return words, nil
}
