#!/usr/bin/env bash
# Installs the system packages the project needs (Debian/Ubuntu, as root), or says exactly
# what is missing and how to get it. Idempotent: does nothing when all are present.
#   docker.io   -> the Docker engine for the sandbox's docker backend
#   bubblewrap  -> the sandbox's bwrap backend
#   golang-go, php-cli, ruby -> toolchains for go/php/ruby translations
# gcc/g++, node, java and rustc are expected from the base image (see README "System parts").
set -u
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v bwrap   >/dev/null 2>&1 || need+=(bubblewrap)
command -v go      >/dev/null 2>&1 || [ -x /usr/lib/go/bin/go ] || need+=(golang-go)
command -v php     >/dev/null 2>&1 || need+=(php-cli)
command -v ruby    >/dev/null 2>&1 || need+=(ruby)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
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
exit 0
