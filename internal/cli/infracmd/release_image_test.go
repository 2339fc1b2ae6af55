package infracmd

import (
	"os"
	"strings"
	"testing"
)

// TestReleaseImageAgrees keeps the default image repository of deploy and
// the images the release publishes (.goreleaser.yaml) the same, with a tag
// that is exactly what `ecsworker version` prints (vX.Y.Z).
func TestReleaseImageAgrees(t *testing.T) {
	b, err := os.ReadFile("../../../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, want := range []string{
		"\n      - " + ImageRepository + "\n", // dockers_v2 images
		`- "v{{ .Version }}"`,                 // the tag of buildinfo's version
		"Version=v{{ .Version }}",             // the version stamped into the binary
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf(".goreleaser.yaml lacks %q", want)
		}
	}
}
