package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := func(main string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/ecsworker/ecsworker", Version: main}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	const rev, when = "0123456789abcdef0123456789abcdef01234567", "2026-12-07T10:00:00Z"
	tests := []struct {
		name    string
		stamped Info
		bi      *debug.BuildInfo
		want    Info
	}{
		{
			name:    "release build: the stamp wins over what Go recorded",
			stamped: Info{Version: "v1.2.3", Commit: rev, Date: when},
			bi:      vcs("v0.0.0-20261207100000-0123456789ab", "vcs.revision", "ffff", "vcs.time", "2000-01-01T00:00:00Z"),
			want:    Info{Version: "v1.2.3", Commit: rev, Date: when},
		},
		{
			name:    "Dockerfile build: only the version stamped, the rest from Go",
			stamped: Info{Version: "v1.2.3"},
			bi:      vcs("(devel)", "vcs.revision", rev, "vcs.time", when),
			want:    Info{Version: "v1.2.3", Commit: rev, Date: when},
		},
		{
			name: "go install module@version: the module version, no VCS",
			bi:   vcs("v1.2.3"),
			want: Info{Version: "v1.2.3", Commit: Unknown, Date: Unknown},
		},
		{
			name: "build from a checkout with uncommitted changes",
			bi:   vcs("(devel)", "vcs.revision", rev, "vcs.time", when, "vcs.modified", "true"),
			want: Info{Version: "dev", Commit: rev + "-dirty", Date: when},
		},
		{
			name: "build from a clean checkout",
			bi:   vcs("(devel)", "vcs.revision", rev, "vcs.time", when, "vcs.modified", "false"),
			want: Info{Version: "dev", Commit: rev, Date: when},
		},
		{
			name: "plain build without VCS (-buildvcs=false)",
			bi:   vcs("(devel)"),
			want: Info{Version: "dev", Commit: Unknown, Date: Unknown},
		},
		{
			name: "no build information at all",
			want: Info{Version: "dev", Commit: Unknown, Date: Unknown},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.want.Go, tt.want.Platform = runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH
			if got := resolve(tt.stamped, tt.bi); got != tt.want {
				t.Errorf("resolve:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
