// Package pycompat reproduces the few Python behaviours that Prefect's
// templating and the Python ECS worker expose to users: str() and repr() of
// JSON values, POSIX shell-word splitting of commands, and tag sanitising.
// Users match on the results (env values, rendered strings, tags), so they
// must come out exactly as Python would produce them.
package pycompat

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ecsworker/ecsworker/internal/jsonv"
)

// Str is Python's str() of a JSON value as Python's json module would decode it.
func Str(v any) string {
	switch t := v.(type) {
	case string:
		return t
	default:
		var b strings.Builder
		writeRepr(&b, v)
		return b.String()
	}
}

// Repr is Python's repr() of a JSON value.
func Repr(v any) string {
	var b strings.Builder
	writeRepr(&b, v)
	return b.String()
}

func writeRepr(b *strings.Builder, v any) {
	switch t := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if t {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case json.Number:
		b.WriteString(NumberStr(t))
	case string:
		b.WriteString(QuoteString(t))
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRepr(b, e)
		}
		b.WriteByte(']')
	case *jsonv.Object:
		b.WriteByte('{')
		for i, k := range t.Keys() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(QuoteString(k))
			b.WriteString(": ")
			e, _ := t.Get(k)
			writeRepr(b, e)
		}
		b.WriteByte('}')
	default:
		writeRepr(b, jsonv.Normalize(v))
	}
}

// NumberStr is Python's str() of a JSON number literal: integers keep all
// their digits, other numbers become floats and print as Python's repr does.
func NumberStr(n json.Number) string {
	s := string(n)
	if jsonv.IsInteger(n) {
		i, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return s
		}
		return i.String() // "-0" becomes "0", as int("-0") does
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return s
	}
	return FloatRepr(f)
}

// FloatRepr formats a float64 the way Python's repr(float) does.
func FloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	// Python uses the shortest round-tripping digits, printed positionally
	// when the decimal exponent is in [-4, 16) and in scientific form otherwise.
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expStr, _ := strings.Cut(sci, "e")
	exp, _ := strconv.Atoi(expStr)
	if exp < -4 || exp >= 16 {
		return mant + "e" + expStr[:1] + fmt.Sprintf("%02d", abs(exp))
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// QuoteString is Python's repr() of a str.
func QuoteString(s string) string {
	quote := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			// Not valid UTF-8: Python would have failed to decode the JSON.
			// Such bytes reach Python through os.environ or sys.argv, which
			// decode with surrogateescape, so show the byte as the lone
			// surrogate U+DC80+byte that Python's repr prints.
			fmt.Fprintf(&b, `\udc%02x`, s[i])
			i++
			continue
		}
		i += size
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == ' ' || (r > 0x20 && r < 0x7f):
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case isPrintable(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	b.WriteByte(quote)
	return b.String()
}

// isPrintable approximates Python's str.isprintable for one character:
// everything but other (C*) and separator (Z*) categories, except ASCII space.
func isPrintable(r rune) bool {
	if unicode.In(r, unicode.Zs, unicode.Zl, unicode.Zp) {
		return false
	}
	return unicode.IsGraphic(r) && !unicode.Is(unicode.C, r)
}
