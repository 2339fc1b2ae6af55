package ecsjob

import (
	"sort"
	"strconv"
	"strings"

	"github.com/ecsworker/ecsworker/internal/ecsshape"
)

// maxSuggestions bounds "did you mean": more than a few names is a list,
// and a list is what the message falls back to when nothing is close.
const maxSuggestions = 3

// closestNames returns the candidates a mistyped name most likely meant,
// nearest first: those within a small edit distance (typos, doubled or
// swapped letters, launchType for launch_type), and those the name is a
// truncation of (task_role for task_role_arn) or extends (image_uri for
// image). Nil means nothing is close enough to be worth suggesting.
func closestNames(name string, candidates []string) []string {
	n := normalizeName(name)
	if n == "" {
		return nil
	}
	type match struct {
		name string
		dist int
	}
	var found []match
	for _, c := range candidates {
		cn := normalizeName(c)
		if cn == "" {
			continue
		}
		d := ecsshape.EditDistance(n, cn)
		switch {
		case d <= closeEnough(n):
		case len(n) >= 3 && strings.HasPrefix(cn, n):
		case len(cn) >= 3 && strings.HasPrefix(n, cn):
		default:
			continue
		}
		found = append(found, match{c, d})
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].dist < found[j].dist })
	if len(found) > 0 && found[0].dist == 0 {
		// The same name but for case or separators: anything else is a
		// worse guess (fargate-spot means FARGATE_SPOT, not FARGATE).
		exact := 1
		for exact < len(found) && found[exact].dist == 0 {
			exact++
		}
		found = found[:exact]
	}
	if len(found) > maxSuggestions {
		found = found[:maxSuggestions]
	}
	var out []string
	for _, m := range found {
		out = append(out, m.name)
	}
	return out
}

// closeEnough is the edit distance within which two names count as the
// same name mistyped: one edit for short names, where two would turn cpu
// into env, up to three for long ones.
func closeEnough(normalized string) int {
	switch l := len([]rune(normalized)); {
	case l <= 4:
		return 1
	case l <= 8:
		return 2
	default:
		return 3
	}
}

// normalizeName drops case and separators, so that launchType, LAUNCH_TYPE
// and launch-type all meet launch_type at distance 0.
func normalizeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch r {
		case '_', '-', ' ', '.':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// quotedList joins names as "a", "b" or "c", for a "did you mean".
func quotedList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
