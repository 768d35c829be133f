#!/usr/bin/env bash
# The machine packages some tests drive, installed from Debian when they are missing: `npm test`
# (pretest) and `.ci/run` both call this, so `npm install && npm test` works on a fresh Debian
# machine. Elsewhere (no apt-get, no root or sudo) it says what is missing and goes on: the tests
# that need it then fail and say why.
#   chromium     test/sdk/browser.test.ts (playwright-core drives Debian's build)
#   nginx-light  test/e2e/nginx.retry-policy.test.ts and the deployment proof
#   kcat         test/integration/kafka-queue.test.ts (librdkafka's mock cluster)
#   kubectl      test/deploy/k8s.test.ts (kubectl kustomize)
set -u
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v kcat >/dev/null || missing+=(kcat)
command -v kubectl >/dev/null || missing+=(kubectl)
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo -n)
if ! command -v apt-get >/dev/null || { [ ${#as_root[@]} -gt 0 ] && ! sudo -n true 2>/dev/null; }; then
  echo "test-machine: missing ${missing[*]} and cannot install them here (needs apt-get as root); the tests that use them will fail" >&2
  exit 0
fi
echo "test-machine: installing ${missing[*]} from Debian" >&2
"${as_root[@]}" apt-get update -qq >/dev/null
for package in "${missing[@]}"; do
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "$package" >/dev/null \
    || echo "test-machine: $package could not be installed; the tests that use it will fail and say so" >&2
done
# nginx's package starts a system nginx on port 80; the tests run their own.
if [[ " ${missing[*]} " == *" nginx-light "* ]]; then "${as_root[@]}" service nginx stop >/dev/null 2>&1 || true; fi
exit 0
