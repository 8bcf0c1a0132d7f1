#!/usr/bin/env bash
# Installs the system packages the project needs (Debian/Ubuntu, as root), or says exactly
# what is missing and how to get it. Idempotent: does nothing when all are present.
#   docker.io   -> the Docker engine for the sandbox's docker backend
#   bubblewrap  -> the sandbox's bwrap backend
#   golang-go, php-cli, ruby -> toolchains for go/php/ruby translations
#   npm + tsc   -> the typescript toolchain: npm's typescript and @types/node, pinned, under
#                  /opt/codetrans/typescript (sandboxes hide the host's /usr/local; the
#                  language entry binds this directory instead)
# gcc/g++, node, java and rustc are expected from the base image (see README "System parts").
# The toolchains and pins are the language registry's (languages/<name>.py, `install`);
# tests/test_registry.py checks that this script agrees with it.
set -u
TS_PREFIX=/opt/codetrans/typescript
TS_PACKAGES=(typescript@5.9.3 @types/node@20.19.43)

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v bwrap   >/dev/null 2>&1 || need+=(bubblewrap)
command -v go      >/dev/null 2>&1 || [ -x /usr/lib/go/bin/go ] || need+=(golang-go)
command -v php     >/dev/null 2>&1 || need+=(php-cli)
command -v ruby    >/dev/null 2>&1 || need+=(ruby)
command -v npm     >/dev/null 2>&1 || need+=(npm)

# Whether every pinned npm package is installed under TS_PREFIX at its pinned version.
ts_installed() {
  local spec name version
  for spec in "${TS_PACKAGES[@]}"; do
    name="${spec%@*}"; version="${spec##*@}"
    grep -q "\"version\": \"$version\"" "$TS_PREFIX/node_modules/$name/package.json" 2>/dev/null \
      || return 1
  done
}

root_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

if [ ${#need[@]} -gt 0 ]; then
  if root_apt; then
    echo "installing system packages: ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null \
      || { echo "apt-get install ${need[*]} failed" >&2; exit 1; }
  else
    echo "WARNING: missing system packages: ${need[*]}" >&2
    echo "  install them with: sudo apt-get install ${need[*]}" >&2
    echo "  (without them the tests that need them fail; to skip them instead, with the reason:" >&2
    echo "   CODETRANS_ALLOW_MISSING=docker,bwrap,... make test; see docs/testing.md)" >&2
  fi
fi

if ! ts_installed; then
  if [ "$(id -u)" = 0 ] && command -v npm >/dev/null 2>&1; then
    echo "installing ${TS_PACKAGES[*]} under $TS_PREFIX" >&2
    mkdir -p "$TS_PREFIX" \
      && npm install --prefix "$TS_PREFIX" --no-audit --no-fund --no-save "${TS_PACKAGES[@]}" >/dev/null \
      && chmod -R a+rX "$TS_PREFIX" \
      || { echo "npm install ${TS_PACKAGES[*]} failed" >&2; exit 1; }
  else
    echo "WARNING: the typescript toolchain is missing: as root," >&2
    echo "  npm install --prefix $TS_PREFIX ${TS_PACKAGES[*]}" >&2
    echo "  (or CODETRANS_ALLOW_MISSING=typescript make test; see docs/testing.md)" >&2
  fi
fi
exit 0
