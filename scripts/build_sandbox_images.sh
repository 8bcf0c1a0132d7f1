#!/usr/bin/env bash
# Builds the production sandbox images (sandboxes/docker/Dockerfile.<lang>) on a host that can
# pull public base images. Without them the Docker backend builds its offline image and binds
# the host's toolchains instead (see docs/sandboxes.md).
#   bash scripts/build_sandbox_images.sh [LANG ...]     (default: all nine)
set -euo pipefail
cd "$(dirname "$0")/.."
langs=("$@")
[ ${#langs[@]} -eq 0 ] && langs=(python javascript java cpp c go rust php ruby)
for lang in "${langs[@]}"; do
  echo "building codetrans-sandbox/$lang:1" >&2
  docker build -q -f "sandboxes/docker/Dockerfile.$lang" -t "codetrans-sandbox/$lang:1" sandboxes/docker
done
