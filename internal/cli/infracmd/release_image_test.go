package infracmd

import (
	"os"
	"strings"
	"testing"

	"github.com/ecsworker/ecsworker/internal/infra"
)

// TestReleaseImageAgrees keeps the default image of deploy
// (infra.ReleaseImage: the repository, tagged X.Y.Z for version vX.Y.Z)
// and the images the release publishes (.goreleaser.yaml) the same.
func TestReleaseImageAgrees(t *testing.T) {
	b, err := os.ReadFile("../../../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, want := range []string{
		"\n      - " + infra.ImageRepository + "\n", // dockers_v2 images
		`- "{{ .Version }}"`,                        // the tag infra.ReleaseImage names
		"Version=v{{ .Version }}",                   // the version stamped into the binary
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf(".goreleaser.yaml lacks %q", want)
		}
	}
}

func TestReleaseImageTag(t *testing.T) {
	if got, ok := infra.ReleaseImage("v1.2.3"); !ok || got != infra.ImageRepository+":1.2.3" {
		t.Errorf("ReleaseImage(v1.2.3) = %q, %v; the release publishes %s:1.2.3", got, ok, infra.ImageRepository)
	}
}
