// Package buildinfo tells which ecsworker this is.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version, Commit and Date are stamped at build time by the release build
// (.goreleaser.yaml) and the Dockerfile, with
// -ldflags "-X github.com/ecsworker/ecsworker/internal/buildinfo.Version=v1.2.3".
// Left empty, they fall back to what the Go toolchain recorded.
var (
	// Version is the release version, such as v1.2.3.
	Version = ""
	// Commit is the full git commit hash the binary was built from.
	Commit = ""
	// Date is when the binary was built (or committed), in RFC 3339.
	Date = ""
)

// Unknown stands for a commit or date that neither the stamp nor the
// toolchain recorded.
const Unknown = "unknown"

// Info is what `ecsworker version` prints; the JSON names are the fields
// of `ecsworker version --json`.
type Info struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Date     string `json:"date"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// Get returns this binary's build information.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(Info{Version: Version, Commit: Commit, Date: Date}, bi)
}

// resolve fills what the stamp left empty from the toolchain's record:
// `go install module@v1.2.3` records the module version, and a build from
// a git checkout (with -buildvcs, the default) records the commit and its
// time. A plain build with neither is "dev" at an unknown commit.
func resolve(stamped Info, bi *debug.BuildInfo) Info {
	info := stamped
	info.Go, info.Platform = runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH
	var revision, vcsTime string
	modified := false
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if info.Commit == "" && revision != "" {
		info.Commit = revision
		// The commit alone would claim a source the binary was not built from.
		if modified {
			info.Commit += "-dirty"
		}
	}
	if info.Date == "" {
		info.Date = vcsTime
	}
	for _, f := range []*string{&info.Commit, &info.Date} {
		if *f == "" {
			*f = Unknown
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	return info
}

// String returns the version, falling back to the module version Go
// recorded (go install) or "dev" for a plain build from a checkout.
func String() string { return Get().Version }
