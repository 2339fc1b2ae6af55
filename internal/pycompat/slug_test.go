package pycompat_test

import (
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/pycompat"
)

// The expected slugs come from python-slugify's slugify(in,
// regex_pattern=r"[^a-zA-Z0-9_./=+:@-]", allow_unicode=True, lowercase=False)
// under CPython 3.11.
func TestSlugifyTag(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   string
		want string
	}{
		"empty":                                 {in: "", want: ""},
		"comma and space":                       {in: "Hello, World", want: "Hello-World"},
		"disallowed punctuation":                {in: "invalid/label*with?chars", want: "invalid/label-with-chars"},
		"prefect test tag":                      {in: "af_sn253@!$@&$%@(bfausfg!#!*&):@cas{}[]'XY", want: "af_sn253@-@-@-bfausfg-:@cas-XY"},
		"uuid":                                  {in: "0c9f1b3e-6a4d-4d9e-9f6a-2b1c3d4e5f60", want: "0c9f1b3e-6a4d-4d9e-9f6a-2b1c3d4e5f60"},
		"timestamp":                             {in: "2024-05-01T12:00:00.123+00:00", want: "2024-05-01T12:00:00.123+00:00"},
		"version":                               {in: "3.4.1", want: "3.4.1"},
		"case is kept":                          {in: "MyFlow", want: "MyFlow"},
		"all allowed punctuation":               {in: "a_b.c/d=e+f:g@h-i", want: "a_b.c/d=e+f:g@h-i"},
		"only disallowed":                       {in: "!!!***", want: ""},
		"only dashes":                           {in: "---", want: ""},
		"leading and trailing dashes stripped":  {in: "--a--b--", want: "a-b"},
		"leading and trailing junk stripped":    {in: "  a b  ", want: "a-b"},
		"runs collapse":                         {in: "a !@# b", want: "a-@-b"},
		"apostrophe separates words":            {in: "it's", want: "it-s"},
		"apostrophe run is one dash":            {in: "a'''b", want: "a-b"},
		"apostrophe at ends":                    {in: "'quoted'", want: "quoted"},
		"decimal entity apostrophe disappears":  {in: "it&#39;s", want: "its"},
		"hex entity apostrophe disappears":      {in: "it&#x27;s", want: "its"},
		"fullwidth apostrophe disappears":       {in: "it\uff07s", want: "its"},
		"named entity decoded":                  {in: "a&amp;b", want: "a-b"},
		"named entity to allowed char":          {in: "a&lt;b&gt;c", want: "a-b-c"},
		"named entity to letter":                {in: "caf&eacute;", want: "caf"},
		"named entity is case-sensitive":        {in: "&AMP;", want: "AMP"},
		"named entity needs semicolon":          {in: "a&amp b", want: "a-amp-b"},
		"unknown named entity":                  {in: "a&bogus;b", want: "a-bogus-b"},
		"html5-only entity not decoded":         {in: "it&apos;s", want: "it-apos-s"},
		"decimal entity":                        {in: "&#65;&#66;", want: "AB"},
		"decimal entity to allowed punctuation": {in: "a&#43;b", want: "a+b"},
		"hex entity":                            {in: "&#x41;&#x62;", want: "Ab"},
		"uppercase X hex is not decoded":        {in: "&#X41;", want: "X41"},
		"uppercase hex digits":                  {in: "&#x4A;", want: "J"},
		"entities decode in sequence":           {in: "&amp;#65;", want: "A"},
		"decoded entity is not decoded again":   {in: "&#38;#65;", want: "65"},
		"decimal then hex":                      {in: "&#38;#x41;", want: "A"},
		"entity split across normalisation":     {in: "&#x\uff14\uff11;", want: "A"},
		"arabic-indic digits in decimal entity": {in: "&#٦٥;", want: "A"},
		"out of range decimal entity aborts all decimal decoding": {in: "&#65;&#1114112;", want: "65-1114112"},
		"out of range hex entity aborts all hex decoding":         {in: "&#x41;&#x110000;&#65;", want: "x41-x110000-A"},
		"surrogate entity":                            {in: "a&#55296;b", want: "a-b"},
		"nul entity":                                  {in: "a&#0;b", want: "a-b"},
		"fullwidth ampersand entity":                  {in: "a\uff06amp\uff1bb", want: "a-b"},
		"thousands comma removed":                     {in: "1,000,000", want: "1000000"},
		"comma between digit and letter kept as dash": {in: "1,a,2", want: "1-a-2"},
		"typed apostrophe keeps comma apart":          {in: "1',2", want: "1-2"},
		"decoded apostrophe lets comma go":            {in: "1&#39;,2", want: "12"},
		"commas between entity digits":                {in: "&#49;,&#50;", want: "12"},
		"double comma":                                {in: "1,,2", want: "1-2"},
		"accented letters become dashes":              {in: "café résumé", want: "caf-r-sum"},
		"decomposed accent becomes one dash":          {in: "cafe\u0301", want: "caf"},
		"cjk":                                         {in: "日本語タグ", want: ""},
		"emoji":                                       {in: "deploy 🚀 now", want: "deploy-now"},
		"fullwidth letters normalised":                {in: "\uff21\uff22\uff23\uff11\uff12\uff13", want: "ABC123"},
		"ligature normalised":                         {in: "ﬁle", want: "file"},
		"superscript and fraction normalised":         {in: "x² ½", want: "x2-1-2"},
		"roman numeral normalised":                    {in: "Ⅻ", want: "XII"},
		"math bold digits normalised":                 {in: "𝟎𝟏", want: "01"},
		"no-break space":                              {in: "a\u00a0b", want: "a-b"},
		"control characters":                          {in: "a\tb\nc\u0000d", want: "a-b-c-d"},
		"zero width space":                            {in: "a\u200bb", want: "a-b"},
		"replacement character":                       {in: "a\ufffdb", want: "a-b"},
		"long flow name":                              {in: "my-flow/deployment-name:prod@v1.2.3", want: "my-flow/deployment-name:prod@v1.2.3"},
		"s3 uri":                                      {in: "s3://bucket/key with spaces.txt", want: "s3://bucket/key-with-spaces.txt"},
		"email":                                       {in: "someone+tag@example.com", want: "someone+tag@example.com"},
		"sql-ish":                                     {in: "DROP TABLE x; --", want: "DROP-TABLE-x"},
		"quotes of both kinds":                        {in: `"double" and 'single'`, want: "double-and-single"},
		"backslashes":                                 {in: `C:\Users\x`, want: "C:-Users-x"},
	}
	// CPython's int() refuses decimal strings of more than 4300 digits,
	// leading zeros included, and python-slugify then skips every decimal
	// reference; hexadecimal strings have no such limit.
	tests["4300 decimal digits decode"] = struct{ in, want string }{
		in: "&#65;&#" + strings.Repeat("0", 4298) + "66;", want: "AB",
	}
	tests["4301 decimal digits abort decimal decoding"] = struct{ in, want string }{
		in: "&#65;&#" + strings.Repeat("0", 4299) + "66;", want: "65-" + strings.Repeat("0", 4299) + "66",
	}
	tests["hex references have no digit limit"] = struct{ in, want string }{
		in: "&#x" + strings.Repeat("0", 5000) + "41;", want: "A",
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := pycompat.SlugifyTag(tc.in); got != tc.want {
				t.Errorf("SlugifyTag(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSlugifyTagInvalidUTF8(t *testing.T) {
	t.Parallel()
	// Python strings cannot hold invalid UTF-8, but Go callers can pass it;
	// each bad byte is just another disallowed character.
	if got, want := pycompat.SlugifyTag("a\xffb\xfe\xfdc"), "a-b-c"; got != want {
		t.Errorf("SlugifyTag = %q, want %q", got, want)
	}
}

func checkSlug(t *testing.T, in, slug string) {
	t.Helper()
	for i, r := range slug {
		if !isTagChar(r) {
			t.Fatalf("SlugifyTag(%q) = %q: disallowed %q at byte %d", in, slug, r, i)
		}
	}
	if strings.Contains(slug, "--") || strings.HasPrefix(slug, "-") || strings.HasSuffix(slug, "-") {
		t.Fatalf("SlugifyTag(%q) = %q: stray dashes", in, slug)
	}
	if again := pycompat.SlugifyTag(slug); again != slug {
		t.Fatalf("SlugifyTag not idempotent: %q -> %q -> %q", in, slug, again)
	}
}

func isTagChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
		strings.ContainsRune("_./=+:@-", r)
}

func FuzzSlugifyTag(f *testing.F) {
	for _, s := range []string{
		"",
		"Hello, World",
		"af_sn253@!$@&$%@(bfausfg!#!*&):@cas{}[]'XY",
		"2024-05-01T12:00:00.123+00:00",
		"it's &amp; &#39; &#x27; &lt;&gt; &#1114112; &#55296;",
		"1,000,000 &#49;,&#50;",
		"ＡＢＣ ﬁ ½ Ⅻ café e\u0301 日本 🚀",
		"&#\u0666\u0665; &#x\uff14\uff11;",
		"a\xffb",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		slug := pycompat.SlugifyTag(s)
		checkSlug(t, s, slug)
		// A string that is already a valid tag must come through unchanged.
		valid := true
		for _, r := range s {
			valid = valid && isTagChar(r)
		}
		if valid && !strings.Contains(s, "--") && !strings.HasPrefix(s, "-") && !strings.HasSuffix(s, "-") && slug != s {
			t.Fatalf("SlugifyTag(%q) = %q, want it unchanged", s, slug)
		}
	})
}

func BenchmarkSlugifyTag(b *testing.B) {
	inputs := map[string]string{
		"already valid": "prefect.io/flow-run-id:0c9f1b3e-6a4d-4d9e-9f6a-2b1c3d4e5f60",
		"ascii to fix":  "my flow (nightly), team's \"ETL\" run #42",
		"entities":      "a&amp;b &#39;c&#x27; &lt;d&gt; 1,000",
		"unicode":       "Zürich café – 日本語 ﬁle ＡＢＣ 🚀",
	}
	for name, in := range inputs {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				pycompat.SlugifyTag(in)
			}
		})
	}
}
