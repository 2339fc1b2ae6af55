# syntax=docker/dockerfile:1
#
# The ecsworker worker image: one static binary on distroless, running as
# a non-root user. Build for one platform or several:
#
#   docker build --build-arg VERSION=v1.0.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t ecsworker:v1.0.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 --build-arg VERSION=v1.0.0 \
#     -t <account>.dkr.ecr.<region>.amazonaws.com/ecsworker:v1.0.0 --push .
#
# The entry point is the binary; `ecsworker infra deploy-service` runs it with
# `worker start --pool ... --with-healthcheck` and probes it with
# `ecsworker infra healthcheck` (the image has no shell and no curl).

ARG GO_VERSION=1.26

# The builder runs on the build machine's platform and cross-compiles, so a
# multi-platform build needs no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
# Set by BuildKit from --platform (the syntax line above requires BuildKit).
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
# .git is not in the build context, so Go cannot record the commit itself;
# left empty, `ecsworker version` says "unknown".
ARG COMMIT=
ARG DATE=
WORKDIR /src
# Dependencies first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath \
      -ldflags "-s -w -X github.com/ecsworker/ecsworker/internal/buildinfo.Version=${VERSION} -X github.com/ecsworker/ecsworker/internal/buildinfo.Commit=${COMMIT} -X github.com/ecsworker/ecsworker/internal/buildinfo.Date=${DATE}" \
      -o /out/ecsworker ./cmd/ecsworker

# distroless/static has CA certificates, tzdata and /etc/passwd entries
# for the nonroot user (65532), and nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="ecsworker" \
      org.opencontainers.image.description="Prefect ECS worker: runs Prefect flow runs as AWS ECS tasks" \
      org.opencontainers.image.source="https://github.com/ecsworker/ecsworker" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/ecsworker /usr/local/bin/ecsworker
USER 65532:65532
# The health endpoint exists only with `worker start --with-healthcheck`; the
# probe then checks that polls and heartbeats to Prefect succeed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/ecsworker", "infra", "healthcheck", "--url", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["/usr/local/bin/ecsworker"]
CMD ["--help"]
