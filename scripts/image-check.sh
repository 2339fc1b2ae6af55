#!/usr/bin/env bash
# Builds the release image here, with podman, and checks it as a user would
# run it:
#   1. `IMAGE version` prints the snapshot's version for this platform;
#   2. `IMAGE sandbox --runs 2` ends with every run as its scenario expects;
#   3. the image's HEALTHCHECK succeeds against a worker started in the
#      container (and fails before that worker serves /health);
#   4. the container runs as 65532:65532 and the image holds no shell.
# Then it prints the image's size (target: at most 25 MB uncompressed).
#
# The binary is the release binary: goreleaser (a Go tool dependency) builds
# it for this machine with the release's flags, as a snapshot. The base,
# gcr.io/distroless/static-debian12:nonroot, is out of reach here, so a
# local stand-in with the same layout is built first
# (release/Dockerfile.standin) and passed as the BASE build argument.
#
# Needs podman (Debian: apt-get install podman). Some sandboxed machines
# refuse podman's default rlimits or crun's cgroup setup; the script then
# runs containers with rlimits no higher than its own, or with runc, and
# says which. Set IMAGE_CHECK_KEEP=1 to keep the images afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
step() { echo "== $1 (at $(( $(date +%s) - start ))s)"; }
fail() { echo "image check failed: $*" >&2; exit 1; }

command -v podman >/dev/null 2>&1 ||
  fail "podman is not installed (Debian: apt-get install podman)"

arch=$(go env GOARCH)
work=$(mktemp -d)
base=localhost/ecsworker-standin-base:check
image=""
containers=()
cleanup() {
  for c in "${containers[@]}"; do podman rm -f "$c" >/dev/null 2>&1 || true; done
  if [ "${IMAGE_CHECK_KEEP:-}" != 1 ]; then
    podman rmi -f "$base" ${image:+"$image"} >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

step "release binary for linux/$arch (goreleaser build --snapshot --single-target)"
# goreleaser reads the commit only where the repository has a remote; a
# checkout without one gets the project's, for this command only.
if [ -z "$(git remote)" ]; then
  export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url \
    GIT_CONFIG_VALUE_0=https://github.com/ecsworker/ecsworker.git
fi
mkdir -p "$work/context/linux/$arch"
GOOS=linux GOARCH=$arch go tool goreleaser build --snapshot --clean --single-target \
  --id ecsworker --output "$work/context/linux/$arch/ecsworker" >"$work/goreleaser.log" 2>&1 ||
  { cat "$work/goreleaser.log"; fail "goreleaser build"; }
version=$(grep -o '"version":"[^"]*"' dist/metadata.json | head -1 | cut -d'"' -f4)
[ -n "$version" ] || fail "no version in dist/metadata.json"
echo "snapshot version: v$version"

step "stand-in base image ($base, release/Dockerfile.standin)"
# CA certificates from Debian's ca-certificates package: the installed one,
# else the package downloaded (not installed) from Debian's archive. The
# bundle is its certificates concatenated, as update-ca-certificates does.
certs=/usr/share/ca-certificates/mozilla
if ! ls "$certs"/*.crt >/dev/null 2>&1; then
  (cd "$work" && apt-get download ca-certificates >/dev/null) ||
    fail "no CA certificates: install Debian's ca-certificates, or let apt-get download it"
  dpkg-deb -x "$work"/ca-certificates_*.deb "$work/ca"
  certs=$work/ca/usr/share/ca-certificates/mozilla
fi
b=$work/base
mkdir -p "$b/rootfs/etc/ssl/certs" "$b/rootfs/tmp" "$b/home/nonroot"
cat "$certs"/*.crt >"$b/rootfs/etc/ssl/certs/ca-certificates.crt"
cat >"$b/rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$b/rootfs/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
echo 'hosts: files dns' >"$b/rootfs/etc/nsswitch.conf"
chmod 1777 "$b/rootfs/tmp"
chmod 700 "$b/home/nonroot"
echo "CA certificates: $(grep -c 'BEGIN CERTIFICATE' "$b/rootfs/etc/ssl/certs/ca-certificates.crt") from $certs"
podman build -q --format docker -t "$base" -f release/Dockerfile.standin "$b" >/dev/null

step "release image (release/Dockerfile, BASE=$base)"
image=localhost/ecsworker:$version
# --format docker keeps the HEALTHCHECK (the OCI image format has none).
# TARGETPLATFORM is given as buildx would give it, for podman versions that
# do not set it themselves.
podman build -q --format docker --platform "linux/$arch" \
  --build-arg BASE="$base" --build-arg TARGETPLATFORM="linux/$arch" \
  --build-arg VERSION="v$version" \
  -t "$image" -f release/Dockerfile "$work/context" >/dev/null
podman image inspect --format '{{range $k, $v := .Config.Labels}}{{$k}}={{$v}}{{"\n"}}{{end}}' "$image" |
  grep '^org.opencontainers' || fail "the image has no OCI labels"

# How containers are run here: podman's defaults first; on a machine that
# refuses them, the rlimits of this shell (never raised) or runc instead of
# crun, each said aloud.
run_opts=()
# Without systemd, podman 4 logs an error for every container it starts (it
# times health checks with systemd timers). Check 3 runs the health check on
# demand, as ECS would, so those lines are dropped, and only those.
nosystemd() { grep -v 'unable to get systemd connection' >&2 || true; }
probe=$(podman run --rm --network none "$image" version 2>&1 >/dev/null) || {
  echo "podman run with its defaults failed: $(grep -v 'systemd connection' <<<"$probe")"
  if grep -qi rlimit <<<"$probe"; then
    # Raising a limit needs CAP_SYS_RESOURCE; lower ones never do.
    run_opts+=(--ulimit "nofile=$(ulimit -n):$(ulimit -n)" --ulimit nproc=4096:4096)
    echo "running containers with --ulimit nofile=$(ulimit -n) --ulimit nproc=4096"
    probe=$(podman run --rm --network none "${run_opts[@]}" "$image" version 2>&1 >/dev/null) || true
  fi
  if grep -qi 'hybrid mode' <<<"$probe"; then
    command -v runc >/dev/null 2>&1 ||
      fail "crun refuses this machine's hybrid cgroups; install runc (apt-get install runc)"
    run_opts+=(--runtime runc)
    echo "crun refuses this machine's hybrid cgroups: running containers with runc"
  fi
}
prun() { podman run "${run_opts[@]}" "$@" 2> >(nosystemd); }

step "check 1: podman run IMAGE version"
prun --rm --network none "$image" version
json=$(prun --rm --network none "$image" version --json)
for want in "\"version\":\"v$version\"" "\"platform\":\"linux/$arch\""; do
  case "$json" in *"$want"*) ;; *) fail "version --json lacks $want: $json" ;; esac
done

step "check 2: podman run IMAGE sandbox --runs 2"
prun --rm --network none "$image" sandbox --runs 2 >"$work/sandbox.log" 2>&1 ||
  { tail -40 "$work/sandbox.log"; fail "the sandbox in the image exited with $?"; }
tail -2 "$work/sandbox.log"
grep -q '^All 2 runs ended as their scenarios expect' "$work/sandbox.log" ||
  { tail -40 "$work/sandbox.log"; fail "the sandbox did not end with every run as expected"; }

step "check 3: the HEALTHCHECK against a worker started in the container"
hc=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$image")
echo "HEALTHCHECK: $hc"
case "$hc" in *'infra","healthcheck'*) ;; *) fail "the image has no ecsworker HEALTHCHECK" ;; esac
# The container runs a sandbox that stays up (its test Prefect API and
# simulated AWS on the container's loopback); the worker is then started
# inside the same container, as `worker start --with-healthcheck` would run
# on ECS, against them.
# (Its stderr goes to a file: conmon keeps it open as long as the container
# runs, so a filter on a pipe would never end.)
ctr=$(podman run "${run_opts[@]}" -d --network none "$image" sandbox --runs 1 --keep-running 2>"$work/run.err") ||
  { nosystemd <"$work/run.err"; fail "podman run -d"; }
nosystemd <"$work/run.err"
containers+=("$ctr")
api=""
for _ in $(seq 1 120); do
  api=$(podman logs "$ctr" 2>&1 | sed -n 's/^ *export PREFECT_API_URL=//p' | head -1)
  [ -n "$api" ] && break
  [ "$(podman inspect --format '{{.State.Running}}' "$ctr")" = true ] ||
    { podman logs "$ctr" | tail -30; fail "the sandbox container stopped"; }
  sleep 1
done
[ -n "$api" ] || { podman logs "$ctr" | tail -30; fail "the sandbox printed no PREFECT_API_URL in 120 s"; }
aws=$(podman logs "$ctr" 2>&1 | sed -n 's/^ *export AWS_ENDPOINT_URL=//p' | head -1)
echo "sandbox in the container: PREFECT_API_URL=$api AWS_ENDPOINT_URL=$aws"
# Before any worker serves /health, the check must fail: it proves the
# check asks the worker, not that it always passes.
if podman healthcheck run "$ctr" >/dev/null 2>&1; then
  fail "the HEALTHCHECK passed with no worker serving /health"
fi
echo "before the worker: HEALTHCHECK fails, as it should"
podman exec -d \
  -e PREFECT_API_URL="$api" -e AWS_ENDPOINT_URL="$aws" \
  -e AWS_ACCESS_KEY_ID=test -e AWS_SECRET_ACCESS_KEY=test -e AWS_REGION=us-east-1 \
  "$ctr" /usr/local/bin/ecsworker worker start --pool sandbox-pool --with-healthcheck \
  --name image-check >/dev/null
healthy=""
for _ in $(seq 1 60); do
  if out=$(podman healthcheck run "$ctr" 2>&1); then healthy=yes; break; fi
  sleep 1
done
[ -n "$healthy" ] || fail "the HEALTHCHECK did not pass within 60 s of the worker's start: $out"
echo "with the worker: HEALTHCHECK passes ($(podman inspect --format '{{.State.Health.Status}}' "$ctr" 2>/dev/null || echo "status not recorded"))"

step "check 4: runs as 65532, no shell"
user=$(podman image inspect --format '{{.Config.User}}' "$image")
[ "$user" = "65532:65532" ] || fail "the image's user is \"$user\", not 65532:65532"
# The container's own process (the sandbox) and the worker started in it,
# read from /proc on this machine: podman top needs ps in the image.
worker=""
for f in /proc/[0-9]*/cmdline; do
  if tr '\0' ' ' <"$f" 2>/dev/null | grep -q '^/usr/local/bin/ecsworker worker start .*--name image-check'; then
    worker=${f#/proc/}; worker=${worker%/cmdline}; break
  fi
done
[ -n "$worker" ] || fail "the worker started in the container is not running"
for p in "sandbox $(podman inspect --format '{{.State.Pid}}' "$ctr")" "worker $worker"; do
  # Real, effective, saved and file-system ids, each 65532.
  ids=$(awk '/^Uid:|^Gid:/ {print}' "/proc/${p#* }/status" | tr -s '\t\n' '  ')
  echo "the ${p% *} process in the container: $ids"
  [ "$ids" = "Uid: 65532 65532 65532 65532 Gid: 65532 65532 65532 65532 " ] ||
    fail "the ${p% *} process does not run as 65532:65532"
done
podman export "$ctr" | tar -t >"$work/files"
shells=$(grep -E '(^|/)(sh|bash|dash|ash|zsh|busybox)$' "$work/files" || true)
[ -z "$shells" ] || fail "the image holds a shell: $shells"
if prun --rm --network none --entrypoint /bin/sh "$image" -c true >/dev/null 2>&1; then
  fail "/bin/sh ran in the image"
fi
echo "no shell: none among the image's $(grep -vc '/$' "$work/files") files, and --entrypoint /bin/sh does not start"

step "image size"
size=$(podman image inspect --format '{{.Size}}' "$image")
mb=$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1e6 }')
bin=$(awk -v s="$(stat -c %s "$work/context/linux/$arch/ecsworker")" 'BEGIN { printf "%.1f", s / 1e6 }')
echo "$image: $mb MB uncompressed (the binary: $bin MB; target: at most 25 MB)"
awk -v s="$size" 'BEGIN { exit !(s <= 25e6) }' || fail "the image is $mb MB, over the 25 MB target"

step "done: the release image passes all four checks"
