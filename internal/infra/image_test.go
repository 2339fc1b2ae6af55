package infra_test

import (
	"testing"

	"github.com/ecsworker/ecsworker/internal/infra"
)

func TestReleaseImage(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		version string
		image   string // "": a development build
	}{
		"release tag":          {version: "v1.2.3", image: "ghcr.io/ecsworker/ecsworker:1.2.3"},
		"goreleaser's Version": {version: "1.2.3", image: "ghcr.io/ecsworker/ecsworker:1.2.3"},
		"pre-release":          {version: "v1.3.0-rc.1", image: "ghcr.io/ecsworker/ecsworker:1.3.0-rc.1"},
		"plain build":          {version: "dev"},
		"go build of no tag":   {version: "v0.0.0-20261207105432-abcdef123456"},
		"go build after a tag": {version: "v1.2.4-0.20261207105432-abcdef123456"},
		"pre-release pseudo":   {version: "v1.3.0-rc.1.0.20261207105432-abcdef123456"},
		"dirty tree":           {version: "v1.2.3+dirty"},
		"pseudo and dirty":     {version: "v1.2.4-0.20261207105432-abcdef123456+dirty"},
		"incompatible":         {version: "v2.0.0+incompatible"},
		"two numbers":          {version: "v1.2"},
		"leading zero":         {version: "v01.2.3"},
		"empty":                {version: ""},
		"devel":                {version: "(devel)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			img, ok := infra.ReleaseImage(tc.version)
			if img != tc.image || ok != (tc.image != "") {
				t.Errorf("ReleaseImage(%q) = %q, %v; want %q", tc.version, img, ok, tc.image)
			}
		})
	}
}
