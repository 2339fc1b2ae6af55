package buildinfo

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"testing"
)

// TestReleaseStamps keeps the release build and the Dockerfile stamping
// this package: a renamed module, package or variable would otherwise
// leave -X pointing at nothing, which the linker accepts silently, and
// release binaries would print "dev".
func TestReleaseStamps(t *testing.T) {
	pkg := reflect.TypeFor[Info]().PkgPath()
	stamp := regexp.MustCompile(`-X ([^ =]+)\.(\w+)=`)
	for _, tt := range []struct {
		file string
		want []string
	}{
		{"../../.goreleaser.yaml", []string{"Version", "Commit", "Date"}},
		{"../../Dockerfile", []string{"Version", "Commit", "Date"}},
	} {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, m := range stamp.FindAllStringSubmatch(string(b), -1) {
				if m[1] != pkg || !slices.Contains(tt.want, m[2]) {
					t.Errorf("%s stamps %s.%s: the variables are %s.%v", tt.file, m[1], m[2], pkg, tt.want)
				}
				got[m[2]] = true
			}
			for _, v := range tt.want {
				if !got[v] {
					t.Errorf("%s does not stamp %s.%s", tt.file, pkg, v)
				}
			}
		})
	}
}
