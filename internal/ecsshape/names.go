package ecsshape

import (
	"reflect"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// wireNameExceptions lists the Go field names whose JSON member name is not
// the Go name with its first letter lower-cased. The SDK's code generator
// upper-cases initialisms in Go names (efsVolumeConfiguration becomes
// EFSVolumeConfiguration), so those cannot be derived mechanically.
// TestWireNames serializes every field of the supported inputs and fails
// when this table is incomplete or stale.
var wireNameExceptions = map[string]string{}

// wireName is the JSON member name that the SDK serializer writes for a Go
// struct field.
func wireName(goName string) string {
	if n, ok := wireNameExceptions[goName]; ok {
		return n
	}
	return lowerFirst(goName)
}

func lowerFirst(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[size:]
}

type structInfo struct {
	fields map[string]int // wire name -> field index
	names  []string       // wire names, sorted, for messages
}

var structInfos sync.Map // reflect.Type -> *structInfo

func structInfoOf(t reflect.Type) *structInfo {
	if v, ok := structInfos.Load(t); ok {
		return v.(*structInfo)
	}
	info := &structInfo{fields: map[string]int{}}
	for i := range t.NumField() {
		f := t.Field(i)
		// Unexported fields such as the embedded noSmithyDocumentSerde
		// marker are not part of the API.
		if !f.IsExported() {
			continue
		}
		n := wireName(f.Name)
		info.fields[n] = i
		info.names = append(info.names, n)
	}
	sort.Strings(info.names)
	v, _ := structInfos.LoadOrStore(t, info)
	return v.(*structInfo)
}

// unionMembers lists, for each Smithy union reachable from the supported
// inputs, the SDK's wrapper types for its members. Go reflection cannot
// enumerate the implementations of an interface, so they are listed by hand;
// TestWireNames fails on any interface missing here.
var unionMembers = map[reflect.Type][]reflect.Type{
	reflect.TypeFor[types.SharingStrategy](): {reflect.TypeFor[types.SharingStrategyMemberNvidiaMps]()},
}

type unionInfo struct {
	members map[string]reflect.Type // wire name -> wrapper struct type
	names   []string
}

var unionInfos sync.Map // reflect.Type -> *unionInfo

func unionOf(t reflect.Type) (*unionInfo, bool) {
	if v, ok := unionInfos.Load(t); ok {
		return v.(*unionInfo), true
	}
	ms, ok := unionMembers[t]
	if !ok {
		return nil, false
	}
	u := &unionInfo{members: map[string]reflect.Type{}}
	for _, m := range ms {
		n := unionMemberName(t, m)
		u.members[n] = m
		u.names = append(u.names, n)
	}
	sort.Strings(u.names)
	v, _ := unionInfos.LoadOrStore(t, u)
	return v.(*unionInfo), true
}

// unionMemberName derives a member's wire name from its wrapper type, which
// the generator names <Union>Member<GoMemberName>.
func unionMemberName(union, member reflect.Type) string {
	return wireName(strings.TrimPrefix(member.Name(), union.Name()+"Member"))
}

// isEnum reports whether t is an SDK enum: a string type with a Values
// method listing the known values.
func isEnum(t reflect.Type) bool {
	if t.Kind() != reflect.String || t.PkgPath() == "" {
		return false
	}
	_, ok := t.MethodByName("Values")
	return ok
}

var enumCache sync.Map // reflect.Type -> []string

func enumValues(t reflect.Type) []string {
	if v, ok := enumCache.Load(t); ok {
		return v.([]string)
	}
	vals := reflect.Zero(t).MethodByName("Values").Call(nil)[0]
	out := make([]string, vals.Len())
	for i := range out {
		out[i] = vals.Index(i).String()
	}
	v, _ := enumCache.LoadOrStore(t, out)
	return v.([]string)
}

// suggest returns the candidate the user most likely meant by name, or "".
// Case and snake_case differences win outright because they are the usual
// way names from CloudFormation, Terraform or boto3 docs creep in.
func suggest(name string, candidates []string) string {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	}
	n := norm(name)
	for _, c := range candidates {
		if norm(c) == n {
			return c
		}
	}
	best, bestDist := "", max(1, utf8.RuneCountInString(name)/4)+1
	for _, c := range candidates {
		if d := EditDistance(n, strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// EditDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of adjacent letters each cost one,
// since a swap ("feild", "memroy") is as common a typo as a wrong letter.
// Case counts; callers that suggest names fold it first.
func EditDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
