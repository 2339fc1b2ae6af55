#!/usr/bin/env bash
# Checks the release definitions offline, as the release workflow would run
# them, minus what needs the network or a registry:
#   - .goreleaser.yaml is valid (goreleaser check);
#   - a snapshot release builds every archive with its checksum, without
#     docker images, signatures, SBOMs or publishing;
#   - the linux archive for this machine's architecture holds a static
#     binary that prints the snapshot's version and commit;
#   - the GitHub workflows pass actionlint;
#   - with podman installed, the release image builds and passes its checks
#     (scripts/image-check.sh); without podman that part is skipped, and
#     said so.
# goreleaser (go.mod) and actionlint (tools/actionlint/go.mod) are tool
# dependencies: the first run builds them from source (goreleaser took
# 5 minutes on 2 cores from an empty build cache, actionlint under one),
# later runs take them from the build cache.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
step() { echo "== $1 (at $(( $(date +%s) - start ))s)"; }

step "workflows: actionlint"
go -C tools/actionlint tool actionlint
# actionlint knows the inputs of popular actions by major version (@v4)
# only, and the workflows pin exact versions (@v4.2.2): a copy with each
# pin cut to its major version is checked for misspelt or missing inputs.
wf=$(mktemp -d)
trap 'rm -rf "$wf"' EXIT
for f in .github/workflows/*.yml; do
  sed -E 's/@(v[0-9]+)\.[0-9.]+/@\1/' "$f" >"$wf/$(basename "$f")"
done
go -C tools/actionlint tool actionlint "$wf"/*.yml

step "goreleaser check"
go tool goreleaser check

step "snapshot release: archives and checksums (no docker, sign, sbom, publish)"
# goreleaser reads the commit only where the repository has a remote (else
# it stamps "none"). A checkout without one gets the project's, for this
# command only (git's GIT_CONFIG_* variables), nothing written to .git.
if [ -z "$(git remote)" ]; then
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url \
    GIT_CONFIG_VALUE_0=https://github.com/ecsworker/ecsworker.git
fi
go tool goreleaser release --snapshot --clean --skip=docker,sign,sbom,publish

# The version goreleaser gave the snapshot, from its own record of the run.
version=$(grep -o '"version":"[^"]*"' dist/metadata.json | head -1 | cut -d'"' -f4)
[ -n "$version" ] || { echo "no version in dist/metadata.json"; exit 1; }
echo "snapshot version: $version"

step "every platform has an archive, and the checksums match"
for platform in linux_amd64 linux_arm64 darwin_amd64 darwin_arm64; do
  f="dist/ecsworker_${version}_${platform}.tar.gz"
  [ -f "$f" ] || { echo "missing $f"; ls dist; exit 1; }
done
f="dist/ecsworker_${version}_windows_amd64.zip"
[ -f "$f" ] || { echo "missing $f"; ls dist; exit 1; }
(cd dist && sha256sum --check --strict "ecsworker_${version}_checksums.txt")

step "the linux archive's binary prints its version"
arch=$(go env GOARCH)
tmp=$(mktemp -d)
trap 'rm -rf "$wf" "$tmp"' EXIT
tar -xzf "dist/ecsworker_${version}_linux_${arch}.tar.gz" -C "$tmp"
[ -f "$tmp/README.md" ] || { echo "README.md is not in the archive"; exit 1; }
"$tmp/ecsworker" version
json=$("$tmp/ecsworker" version --json)
echo "$json"
commit=$(git rev-parse HEAD)
for want in "\"version\":\"v$version\"" "\"commit\":\"$commit\"" "\"platform\":\"linux/$arch\""; do
  case "$json" in
    *"$want"*) ;;
    *) echo "ecsworker version --json lacks $want"; exit 1 ;;
  esac
done
# Static and reproducible-path: no cgo, -trimpath (go version -m reads
# the build settings Go embedded).
settings=$(go version -m "$tmp/ecsworker")
for want in "CGO_ENABLED=0" "-trimpath=true"; do
  grep -q -- "$want" <<<"$settings" || { echo "binary not built with $want"; echo "$settings" | grep build; exit 1; }
done

if command -v podman >/dev/null 2>&1; then
  step "the release image (scripts/image-check.sh)"
  scripts/image-check.sh
else
  step "the release image: SKIPPED, podman is not installed (apt-get install podman, then scripts/image-check.sh)"
fi

step "done"
