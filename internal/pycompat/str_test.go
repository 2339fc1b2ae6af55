package pycompat_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/ecsworker/ecsworker/internal/jsonv"
	"github.com/ecsworker/ecsworker/internal/pycompat"
)

// Each case decodes a JSON document the way the worker receives values and
// expects what CPython prints for str(json.loads(doc)) and
// repr(json.loads(doc)).
func TestStrRepr(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		doc  string
		str  string
		repr string
	}{
		"null":                               {doc: "null", str: "None", repr: "None"},
		"true":                               {doc: "true", str: "True", repr: "True"},
		"false":                              {doc: "false", str: "False", repr: "False"},
		"zero":                               {doc: "0", str: "0", repr: "0"},
		"negative zero integer":              {doc: "-0", str: "0", repr: "0"},
		"integer":                            {doc: "42", str: "42", repr: "42"},
		"negative integer":                   {doc: "-7", str: "-7", repr: "-7"},
		"big integer":                        {doc: "123456789012345678901234567890", str: "123456789012345678901234567890", repr: "123456789012345678901234567890"},
		"negative big integer":               {doc: "-98765432109876543210", str: "-98765432109876543210", repr: "-98765432109876543210"},
		"int64 overflow":                     {doc: "9223372036854775808", str: "9223372036854775808", repr: "9223372036854775808"},
		"float one":                          {doc: "1.0", str: "1.0", repr: "1.0"},
		"float one and a half":               {doc: "1.5", str: "1.5", repr: "1.5"},
		"negative zero float":                {doc: "-0.0", str: "-0.0", repr: "-0.0"},
		"small float":                        {doc: "1e-05", str: "1e-05", repr: "1e-05"},
		"small float written positionally":   {doc: "0.00001", str: "1e-05", repr: "1e-05"},
		"ten thousandth":                     {doc: "0.0001", str: "0.0001", repr: "0.0001"},
		"1e16":                               {doc: "1e16", str: "1e+16", repr: "1e+16"},
		"1e16 positional":                    {doc: "10000000000000000.0", str: "1e+16", repr: "1e+16"},
		"1e15":                               {doc: "1e15", str: "1000000000000000.0", repr: "1000000000000000.0"},
		"large float":                        {doc: "123456789012345678.0", str: "1.2345678901234568e+17", repr: "1.2345678901234568e+17"},
		"large float written with exponent":  {doc: "1.2345678901234568e+17", str: "1.2345678901234568e+17", repr: "1.2345678901234568e+17"},
		"123456789.0":                        {doc: "123456789.0", str: "123456789.0", repr: "123456789.0"},
		"exponent makes float":               {doc: "1E2", str: "100.0", repr: "100.0"},
		"negative exponent float":            {doc: "-2.5e-3", str: "-0.0025", repr: "-0.0025"},
		"point one":                          {doc: "0.1", str: "0.1", repr: "0.1"},
		"point one plus point two":           {doc: "0.30000000000000004", str: "0.30000000000000004", repr: "0.30000000000000004"},
		"many digits rounded":                {doc: "3.141592653589793238462643383279", str: "3.141592653589793", repr: "3.141592653589793"},
		"overflow to inf":                    {doc: "1e400", str: "inf", repr: "inf"},
		"overflow to -inf":                   {doc: "-1e400", str: "-inf", repr: "-inf"},
		"underflow to zero":                  {doc: "1e-400", str: "0.0", repr: "0.0"},
		"smallest subnormal":                 {doc: "5e-324", str: "5e-324", repr: "5e-324"},
		"max float":                          {doc: "1.7976931348623157e308", str: "1.7976931348623157e+308", repr: "1.7976931348623157e+308"},
		"big exponent":                       {doc: "1e100", str: "1e+100", repr: "1e+100"},
		"tiny exponent":                      {doc: "1.5e-300", str: "1.5e-300", repr: "1.5e-300"},
		"string":                             {doc: `"hello"`, str: "hello", repr: "'hello'"},
		"empty string":                       {doc: `""`, str: "", repr: "''"},
		"string with single quote":           {doc: `"it's"`, str: "it's", repr: `"it's"`},
		"string with double quote":           {doc: `"say \"hi\""`, str: `say "hi"`, repr: `'say "hi"'`},
		"string with both quotes":            {doc: `"it's \"x\""`, str: `it's "x"`, repr: `'it\'s "x"'`},
		"string with backslash":              {doc: `"C:\\dir\\file"`, str: `C:\dir\file`, repr: `'C:\\dir\\file'`},
		"string with newline tab cr":         {doc: `"a\nb\tc\rd"`, str: "a\nb\tc\rd", repr: `'a\nb\tc\rd'`},
		"string with control characters":     {doc: `"\u0000\u0001\u001f\u007f"`, str: "\u0000\u0001\u001f\u007f", repr: `'\x00\x01\x1f\x7f'`},
		"string with latin-1":                {doc: `"caf\u00e9 \u00a0\u00ad\u00ff"`, str: "café \u00a0\u00adÿ", repr: "'café \\xa0\\xadÿ'"},
		"string with unicode":                {doc: `"\u65e5\u672c \u00fc \ud83d\ude80"`, str: "日本 ü 🚀", repr: "'日本 ü 🚀'"},
		"string with unicode separators":     {doc: `"\u2028\u2029\u200b\ufeff\u3000"`, str: "\u2028\u2029\u200b\ufeff\u3000", repr: `'\u2028\u2029\u200b\ufeff\u3000'`},
		"string with private use and format": {doc: `"\ue000\udb40\udc01"`, str: "\ue000\U000e0001", repr: `'\ue000\U000e0001'`},
		"string with combining mark":         {doc: `"e\u0301"`, str: "e\u0301", repr: "'e\u0301'"},
		"string that looks like a number":    {doc: `"42"`, str: "42", repr: "'42'"},
		"empty list":                         {doc: "[]", str: "[]", repr: "[]"},
		"empty object":                       {doc: "{}", str: "{}", repr: "{}"},
		"list of scalars":                    {doc: `[1, 1.0, "a", true, false, null]`, str: "[1, 1.0, 'a', True, False, None]", repr: "[1, 1.0, 'a', True, False, None]"},
		"nested list":                        {doc: `[[1, [2, []]], ["x"]]`, str: "[[1, [2, []]], ['x']]", repr: "[[1, [2, []]], ['x']]"},
		"object keeps key order":             {doc: `{"b": 1, "a": 2, "c": 3}`, str: "{'b': 1, 'a': 2, 'c': 3}", repr: "{'b': 1, 'a': 2, 'c': 3}"},
		"nested objects":                     {doc: `{"outer": {"z": [1, {"y": null}], "a": "it's"}, "n": -0}`, str: `{'outer': {'z': [1, {'y': None}], 'a': "it's"}, 'n': 0}`, repr: `{'outer': {'z': [1, {'y': None}], 'a': "it's"}, 'n': 0}`},
		"object with quoted keys":            {doc: `{"it's": "say \"hi\"", "back\\slash": "\n"}`, str: `{"it's": 'say "hi"', 'back\\slash': '\n'}`, repr: `{"it's": 'say "hi"', 'back\\slash': '\n'}`},
		"duplicate key keeps first position and last value": {doc: `{"a": 1, "b": 2, "a": 3}`, str: "{'a': 3, 'b': 2}", repr: "{'a': 3, 'b': 2}"},
		"env-like object": {doc: `{"PREFECT_API_URL": "http://x/api", "RETRIES": 3, "DEBUG": false, "RATIO": 0.5}`, str: "{'PREFECT_API_URL': 'http://x/api', 'RETRIES': 3, 'DEBUG': False, 'RATIO': 0.5}", repr: "{'PREFECT_API_URL': 'http://x/api', 'RETRIES': 3, 'DEBUG': False, 'RATIO': 0.5}"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, err := jsonv.Decode([]byte(tc.doc))
			if err != nil {
				t.Fatalf("Decode(%q): %v", tc.doc, err)
			}
			if got := pycompat.Str(v); got != tc.str {
				t.Errorf("Str(%s) = %q, want %q", tc.doc, got, tc.str)
			}
			if got := pycompat.Repr(v); got != tc.repr {
				t.Errorf("Repr(%s) = %q, want %q", tc.doc, got, tc.repr)
			}
		})
	}
}

// Values built in Go rather than decoded go through jsonv.Normalize, so
// plain maps print in key order and float64s print as Python floats.
func TestStrGoValues(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   any
		want string
	}{
		"ordered object":    {in: jsonv.ObjectOf("z", 1, "a", nil, "m", "x"), want: "{'z': 1, 'a': None, 'm': 'x'}"},
		"plain map sorted":  {in: map[string]any{"b": 1, "a": []string{"x", "it's"}}, want: `{'a': ['x', "it's"], 'b': 1}`},
		"string map":        {in: map[string]string{"k": "v"}, want: "{'k': 'v'}"},
		"int":               {in: 5, want: "5"},
		"whole float64":     {in: 2.0, want: "2.0"},
		"large float64":     {in: 1e21, want: "1e+21"},
		"small float64":     {in: 0.00001, want: "1e-05"},
		"json.Number float": {in: json.Number("1.50"), want: "1.5"},
		"slice of any":      {in: []any{true, "a", 1.5}, want: "[True, 'a', 1.5]"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := pycompat.Str(tc.in); got != tc.want {
				t.Errorf("Str(%#v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// The expected strings are CPython's repr(float).
func TestFloatRepr(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   float64
		want string
	}{
		"one":                    {in: 1.0, want: "1.0"},
		"one and a half":         {in: 1.5, want: "1.5"},
		"zero":                   {in: 0.0, want: "0.0"},
		"negative zero":          {in: math.Copysign(0, -1), want: "-0.0"},
		"1e-05":                  {in: 1e-05, want: "1e-05"},
		"0.0001":                 {in: 0.0001, want: "0.0001"},
		"1e16":                   {in: 1e16, want: "1e+16"},
		"just below 1e16":        {in: 9999999999999998.0, want: "9999999999999998.0"},
		"1.2345678901234568e+17": {in: 1.2345678901234568e+17, want: "1.2345678901234568e+17"},
		"123456789.0":            {in: 123456789.0, want: "123456789.0"},
		"point one":              {in: 0.1, want: "0.1"},
		"third":                  {in: 1.0 / 3, want: "0.3333333333333333"},
		"negative":               {in: -2.5, want: "-2.5"},
		"1e22":                   {in: 1e22, want: "1e+22"},
		"1e-300":                 {in: 1e-300, want: "1e-300"},
		"smallest subnormal":     {in: 5e-324, want: "5e-324"},
		"max":                    {in: 1.7976931348623157e308, want: "1.7976931348623157e+308"},
		"inf":                    {in: math.Inf(1), want: "inf"},
		"-inf":                   {in: math.Inf(-1), want: "-inf"},
		"nan":                    {in: math.NaN(), want: "nan"},
		"2**53":                  {in: 1 << 53, want: "9007199254740992.0"},
		"0.5e-4":                 {in: 0.5e-4, want: "5e-05"},
		"-1e-7":                  {in: -1e-7, want: "-1e-07"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := pycompat.FloatRepr(tc.in); got != tc.want {
				t.Errorf("FloatRepr(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// Python only meets bytes that are not UTF-8 through surrogateescape
// decoding (os.environ, sys.argv), so the expectations are CPython's
// repr(b.decode("utf-8", "surrogateescape")).
func TestQuoteStringInvalidUTF8(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in   string
		want string
	}{
		"stray byte":          {in: "a\xffb", want: `'a\udcffb'`},
		"encoded surrogate":   {in: "\xed\xa0\x80", want: `'\udced\udca0\udc80'`},
		"truncated sequence":  {in: "\xe6\x97 x", want: `'\udce6\udc97 x'`},
		"beyond max rune":     {in: "\xf4\x90\x80\x80", want: `'\udcf4\udc90\udc80\udc80'`},
		"overlong encoding":   {in: "\xc0\x80", want: `'\udcc0\udc80'`},
		"next to valid runes": {in: "é\xff'", want: `"é\udcff'"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := pycompat.QuoteString(tc.in); got != tc.want {
				t.Errorf("QuoteString(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}
