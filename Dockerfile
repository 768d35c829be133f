# PCF API container image: one image for every role (PCF_ROLES picks api, auth, worker).
#
# Two stages: the build stage installs every dependency (dev ones too: esbuild) and bundles the
# server and the web console; the runtime stage gets the bundle, the console's built files, the
# migrations and the production dependencies only.
#
# The base images are build arguments. With a registry they are Node's official images; where
# no registry is reachable, deploy/image/build.sh makes both from Debian's packages and passes
# them in (docs/deployment.md, "Container image").
ARG BUILD_IMAGE=docker.io/library/node:20.20.2-bookworm
ARG RUNTIME_IMAGE=docker.io/library/node:20.20.2-bookworm-slim

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The workspaces' manifests, so npm ci installs what the SDK and the console build with.
COPY sdk/package.json ./sdk/
COPY web/package.json ./web/
# --ignore-scripts: the project's own prepare script builds from sources not copied yet;
# the rebuild then runs the dependencies' install scripts (argon2 picks its prebuilt binding).
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild
COPY scripts ./scripts
COPY src ./src
COPY migrations ./migrations
COPY sdk ./sdk
COPY web ./web
# The bundle is all the server runs (npm start, the pcf bin). Source maps stay behind: Node
# reads them only with --enable-source-maps, and they are most of the bundle's size.
RUN node scripts/bundle.mjs \
  && rm dist/bundle/*.map \
  && npm run sdk:build && node web/scripts/build.mjs && rm web/dist/assets/*.map \
  && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
  && mkdir -p /out/var/lib/pcf

FROM ${RUNTIME_IMAGE}
WORKDIR /app
# Owned by root and read-only to the server: it writes only its data directory, and that only
# with the embedded database (a deployment sets PCF_DATABASE_URL).
COPY --from=build /src/package.json ./
COPY --from=build /src/migrations ./migrations
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/bundle ./dist/bundle
COPY --from=build /src/web/dist ./web/dist
COPY --from=build --chown=10001:10001 /out/var/lib/pcf /var/lib/pcf
ENV NODE_ENV=production \
    PCF_DATA_DIR=/var/lib/pcf \
    PCF_PORT=8080
# A numeric user, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8080
# `pcf healthcheck` asks /health/ready: exit 0 healthy or degraded, 1 unhealthy, 2 unreachable.
HEALTHCHECK --interval=10s --timeout=6s --start-period=60s --retries=3 \
  CMD ["node", "dist/bundle/pcf.js", "healthcheck", "--timeout", "5000"]
STOPSIGNAL SIGTERM
# Exec form, node itself as PID 1: SIGTERM reaches the server, which drains and exits (no npm
# or shell in between to swallow it). Extra arguments are pcf serve flags.
ENTRYPOINT ["node", "dist/bundle/main.js"]
