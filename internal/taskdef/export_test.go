package taskdef

import "github.com/ecsworker/ecsworker/internal/jsonv"

// Hooks for the external tests.

var (
	Hash          = hashOf
	DescribedJSON = describedJSON
)

// Same reports whether two task definitions (requests or described
// revisions) have the same canonical form.
func Same(a, b *jsonv.Object) bool {
	return jsonv.Equal(Canonical(a), Canonical(b))
}
