// Package buildinfo tells which ecsworker this is.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Version is set at build time with
// -ldflags "-X github.com/ecsworker/ecsworker/internal/buildinfo.Version=v1.2.3".
var Version = ""

// String returns the version, falling back to the module version Go
// recorded (go install) or "dev" for a plain build from a checkout.
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Runtime describes the Go toolchain and platform of this binary.
func Runtime() string { return runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH }
