package pycompat

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// SlugifyTag sanitises an ECS tag key or value the way the Python ECS worker
// does, with python-slugify's
//
//	slugify(s, regex_pattern=r"[^a-zA-Z0-9_./=+:@-]", allow_unicode=True, lowercase=False)
//
// Tags are how users find their flow runs' tasks in AWS, so a tag written by
// this worker must be byte-for-byte the tag the Python worker would have
// written. That includes python-slugify's quirks: HTML entities are decoded
// before filtering ("a&amp;b" -> "a-b", not "a-amp-b"), a typed apostrophe
// separates words while one decoded from "&#39;" simply disappears, and
// commas inside numbers are dropped ("1,000" -> "1000"). Every character
// outside the allowed set, non-ASCII letters included, becomes '-', so the
// result is always ASCII.
func SlugifyTag(s string) string {
	if isSlug(s) {
		// Most tags (IDs, names, timestamps) are already clean; none of the
		// steps below can change them, so skip the normalisation passes.
		return s
	}
	s = replaceQuoteRuns(s)
	s = norm.NFKC.String(s)
	if strings.IndexByte(s, '&') >= 0 {
		s = decodeNamedEntities(s)
		s = decodeNumericEntities(s, false)
		s = decodeNumericEntities(s, true)
		s = norm.NFKC.String(s)
	}
	s = strings.ReplaceAll(s, "'", "")
	s = removeDigitGroupCommas(s)

	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if !isTagChar(r) {
			r = '-'
		}
		// Collapsing dashes and dropping leading ones as they are written
		// gives the same result as Python's separate sub() and strip('-').
		if r == '-' && (b.Len() == 0 || b.String()[b.Len()-1] == '-') {
			continue
		}
		b.WriteByte(byte(r))
	}
	return strings.TrimSuffix(b.String(), "-")
}

func isSlug(s string) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return s == ""
	}
	for i := 0; i < len(s); i++ {
		if !isTagChar(rune(s[i])) {
			return false
		}
	}
	return true
}

// tagChars is the complement of the worker's regex_pattern
// [^a-zA-Z0-9_./=+:@-], as a table because it is consulted for every byte.
var tagChars = func() (t [utf8.RuneSelf]bool) {
	for _, c := range "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=+:@-" {
		t[c] = true
	}
	return t
}()

func isTagChar(r rune) bool { return 0 <= r && r < utf8.RuneSelf && tagChars[r] }

// replaceQuoteRuns turns each run of apostrophes into one '-', so that
// "it's" reads as two words rather than "its". python-slugify does this
// before decoding entities; apostrophes that come out of "&#39;" are removed
// later instead.
func replaceQuoteRuns(s string) string {
	if strings.IndexByte(s, '\'') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\'' {
			b.WriteByte(s[i])
			continue
		}
		b.WriteByte('-')
		for i+1 < len(s) && s[i+1] == '\'' {
			i++
		}
	}
	return b.String()
}

// decodeNamedEntities replaces "&name;" for the HTML 4 names Python knows.
// The terminating ';' is required and names are case-sensitive, because that
// is what python-slugify's regular expression matches.
func decodeNamedEntities(s string) string {
	sp := splice{s: s}
	for i := 0; i < len(s); i++ {
		if s[i] != '&' {
			continue
		}
		j := i + 1
		for j < len(s) && j-i <= maxEntityName && isASCIIAlnum(s[j]) {
			j++
		}
		if j == len(s) || s[j] != ';' {
			continue
		}
		r, ok := htmlEntities[s[i+1:j]]
		if !ok {
			continue
		}
		sp.replace(i, j+1, r)
		i = j
	}
	return sp.result()
}

// splice rewrites s piece by piece, copying it only once a piece is
// replaced: most slugs hold no entity at all.
type splice struct {
	s    string
	b    strings.Builder
	last int // s[:last] is in b
}

// replace writes r in place of s[from:to].
func (p *splice) replace(from, to int, r rune) {
	p.b.WriteString(p.s[p.last:from])
	p.b.WriteRune(r)
	p.last = to
}

// result is s with the replacements made.
func (p *splice) result() string {
	if p.last == 0 {
		return p.s
	}
	p.b.WriteString(p.s[p.last:])
	return p.b.String()
}

// maxEntityName bounds the scan after '&'; the longest name is "thetasym".
const maxEntityName = 8

func isASCIIAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// maxIntDigits is CPython's default limit on the digits int() accepts in a
// decimal string (sys.int_info.default_max_str_digits). A longer reference,
// even one that is mostly leading zeros, makes int() raise.
const maxIntDigits = 4300

// decodeNumericEntities replaces "&#65;" (or "&#x41;" when hex is set).
//
// python-slugify matches Python's \d, so digits from any script count, and it
// runs re.sub with chr(int(...)) inside a try block: one reference that
// int() or chr() rejects aborts the whole substitution, leaving every
// reference of that kind in the text undecoded. A reference to a surrogate
// becomes a lone surrogate in Python; Go strings cannot hold one, so it
// becomes U+FFFD, which the final filter turns into '-' just the same.
func decodeNumericEntities(s string, hex bool) string {
	prefix := "&#"
	if hex {
		prefix = "&#x"
	}
	sp := splice{s: s}
	for i := 0; i < len(s); {
		k := strings.Index(s[i:], prefix)
		if k < 0 {
			break
		}
		start := i + k
		j := start + len(prefix)
		var value rune
		digits := 0
		for j < len(s) {
			r, size := utf8.DecodeRuneInString(s[j:])
			d, ok := digitValue(r, hex)
			if !ok {
				break
			}
			if value <= utf8.MaxRune {
				if hex {
					value = value*16 + d
				} else {
					value = value*10 + d
				}
			}
			digits++
			j += size
		}
		if digits == 0 || j == len(s) || s[j] != ';' {
			i = start + 1
			continue
		}
		if value > utf8.MaxRune || (!hex && digits > maxIntDigits) {
			return s
		}
		if 0xD800 <= value && value <= 0xDFFF {
			value = utf8.RuneError
		}
		sp.replace(start, j+1, value)
		i = j + 1
	}
	return sp.result()
}

// digitValue is the value int() gives one character of a reference: any
// Unicode decimal digit (category Nd), plus a-f and A-F in hexadecimal.
func digitValue(r rune, hex bool) (rune, bool) {
	switch {
	case '0' <= r && r <= '9':
		return r - '0', true
	case hex && 'a' <= r && r <= 'f':
		return r - 'a' + 10, true
	case hex && 'A' <= r && r <= 'F':
		return r - 'A' + 10, true
	case r < utf8.RuneSelf || !unicode.IsDigit(r):
		return 0, false
	}
	// Unicode encodes every script's digits as consecutive runs of ten,
	// zero first, so the position in the run is the value. Adjacent runs
	// (the mathematical digits) are whole multiples of ten long.
	zero := r
	for unicode.IsDigit(zero - 1) {
		zero--
	}
	return (r - zero) % 10, true
}

// removeDigitGroupCommas drops each comma that has a digit on both sides,
// as python-slugify's (?<=\d),(?=\d) does, so "1,000,000" becomes "1000000"
// rather than "1-000-000". Both neighbours are looked up in the original
// text, so "1,2,3" loses both commas.
func removeDigitGroupCommas(s string) string {
	if strings.IndexByte(s, ',') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == ',' && i > 0 && i+1 < len(s) {
			before, _ := utf8.DecodeLastRuneInString(s[:i])
			after, _ := utf8.DecodeRuneInString(s[i+1:])
			if unicode.IsDigit(before) && unicode.IsDigit(after) {
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
