package prefectpool

import (
	"fmt"
	"strings"
)

// bannedNameChars are the characters Prefect's server refuses in the names
// of work pools, work queues, flows and deployments (its Name and
// NonEmptyishName types): they would break the URLs the names go into.
const bannedNameChars = "/%&><"

// NameError is a work pool or work queue name that Prefect would refuse.
type NameError struct {
	Kind  string // "work pool" or "work queue"
	Value string
	Rule  string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("%s name %q %s", e.Kind, e.Value, e.Rule)
}

// ValidateWorkPoolName applies the rules of Prefect's server to a work
// pool name: not empty, not only quotes and spaces, and none of the
// characters / % & > <. (Creating, renaming or deleting a pool whose name
// starts with "prefect" is refused as well, with 403: those names are
// reserved for Prefect's own pools, which may still be read and served.)
func ValidateWorkPoolName(name string) error {
	if strings.Trim(name, `' "`) == "" {
		return &NameError{Kind: "work pool", Value: name,
			Rule: "is empty (Prefect refuses names made only of spaces and quotes); give the pool a name"}
	}
	return checkBanned("work pool", name)
}

// ValidateWorkQueueName applies the rules of Prefect's server to a work
// queue name: not empty, and none of the characters / % & > <.
func ValidateWorkQueueName(name string) error {
	if name == "" {
		return &NameError{Kind: "work queue", Value: name, Rule: "is empty; give the queue a name"}
	}
	return checkBanned("work queue", name)
}

func checkBanned(kind, name string) error {
	i := strings.IndexAny(name, bannedNameChars)
	if i < 0 {
		return nil
	}
	suggestion := strings.Map(func(r rune) rune {
		if strings.ContainsRune(bannedNameChars, r) {
			return '-'
		}
		return r
	}, name)
	return &NameError{Kind: kind, Value: name,
		Rule: fmt.Sprintf("contains %q: Prefect refuses / %% & > < in names, which would break the URLs they go into; "+
			"choose another name, e.g. %q", name[i:i+1], suggestion)}
}
