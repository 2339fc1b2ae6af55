// Package golden compares test output with the files under a package's
// testdata, and rewrites them when the tests run with -update. Only tests
// import it.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// Update is the -update flag of the test binaries that use the package.
var Update = flag.Bool("update", false, "rewrite the golden files under testdata")

// Check compares got with testdata/name, or writes it there with -update.
// pkg is the package's path for the message that says how to refresh it
// ("./internal/infra").
func Check(t testing.TB, pkg, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test %s -update to create it)", err, pkg)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the code produces; if the change is intended, run go test %s -update and review the diff\ngot:\n%s", path, pkg, got)
	}
}
