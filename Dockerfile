# sentinel: the bot image. Build: docker build -t sentinel .   (BuildKit: Docker 23 or later, Podman, Buildah)
#
# The base image is pinned by digest: node:24.18.0-bookworm-slim, the multi-platform index the
# official node images published on 2026-07-14 (linux/amd64, arm64, ppc64le; Node 24.18.0 on Debian
# bookworm, user node = uid 1000). To move to a newer Node 24 image, read the tag's current digest
#   docker buildx imagetools inspect node:24-bookworm-slim --format '{{json .Manifest.Digest}}'
# and build with --build-arg NODE_IMAGE=node:24-bookworm-slim@sha256:<digest> (or change the default).
#
# npm test builds both stages without Docker (test/deploy/dockerImage.test.ts): it copies what the
# COPY lines take (after .dockerignore), runs the RUN lines, and runs the image's entrypoint.
ARG NODE_IMAGE=node:24.18.0-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY commands ./commands
# npm's cache is a build cache: kept between builds, never in the image.
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts && npm run build

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
# V8's young generation capped at 2 MB a semi-space. Node 24 lets it grow to 128 MB (also under a
# memory limit), and the bot's start-up garbage grows it that far: idle RSS 196-198 MB without
# the cap, 139-143 MB with it; the peak of a 2,000-event storm 392 MB without, 278-301 MB with it,
# for no more CPU (docs/benchmarks.md, Memory). A NODE_OPTIONS given at run time replaces this
# one: keep --max-semi-space-size=2 in it.
ENV NODE_OPTIONS=--max-semi-space-size=2
# glibc's malloc: allocations of 32 KB or more mapped on their own and given back when freed, and
# free memory at the top of the heap given back past 128 KB (V8's parser and compiler zones and
# large buffers otherwise stay in the process): idle RSS 120 -> 106 MB at 60-90 s after ready;
# with SENTINEL_HEAP_GROWING_PERCENT=10, a 10,000-event storm's peak under 200 MB
# (docs/benchmarks.md, Memory and Storm). One variable a line: the benchmarks read these lines to
# run the bot as the image does.
ENV MALLOC_MMAP_THRESHOLD_=32768
ENV MALLOC_TRIM_THRESHOLD_=131072
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts
COPY --from=build /app/dist ./dist
COPY bin/sentinel ./bin/sentinel
# Read at run time (packageRoot()): the playbook rules and AWS ranges, the state machines (the
# embedded engine and provision), the SSM documents (provision and forensics).
COPY config ./config
COPY deploy/statemachines ./deploy/statemachines
COPY deploy/ssm ./deploy/ssm
# Root owns /app: the node user can read it, not change it (also on a writable root file system).
USER node
# /healthz, /readyz, /metrics on SENTINEL_HTTP_PORT; the event webhook on SENTINEL_WEBHOOK_PORT.
EXPOSE 8080 8081
# Docker's own health state (docker ps, restart policies, Compose depends_on). Kubernetes ignores
# it and uses the chart's probes (/healthz liveness, /readyz readiness).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const h = process.env.SENTINEL_HTTP_HOST; const host = !h || h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h.includes(':') ? `[${h}]` : h; fetch(`http://${host}:${process.env.SENTINEL_HTTP_PORT || 8080}/healthz`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1));"]
ENTRYPOINT ["node", "bin/sentinel"]
CMD ["start"]
