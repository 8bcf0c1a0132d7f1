#!/usr/bin/env bash
# Builds the production sandbox images (sandboxes/docker/Dockerfile.<lang>) on a host that can
# pull public base images. Without them the Docker backend builds its offline image and binds
# the host's toolchains instead (see docs/sandboxes.md).
#   bash scripts/build_sandbox_images.sh [LANG ...]     (default: every Dockerfile.<lang>)
#   DRY_RUN=1 bash scripts/build_sandbox_images.sh      (prints "LANG TAG" per image, builds nothing)
# Each image's tag is the one its Dockerfile's "# Build:" line names, which is the language's
# `image` in languages/<lang>.py (tests/test_registry.py checks that they agree).
set -euo pipefail
cd "$(dirname "$0")/.."
langs=("$@")
if [ ${#langs[@]} -eq 0 ]; then
  for f in sandboxes/docker/Dockerfile.*; do langs+=("${f##*.}"); done
fi
for lang in "${langs[@]}"; do
  file="sandboxes/docker/Dockerfile.$lang"
  tag=$(sed -n 's/^# Build: .* -t \([^ ]*\) .*/\1/p' "$file")
  [ -n "$tag" ] || { echo "$file names no image tag on its '# Build:' line" >&2; exit 1; }
  if [ -n "${DRY_RUN:-}" ]; then echo "$lang $tag"; continue; fi
  echo "building $tag" >&2
  docker build -q -f "$file" -t "$tag" sandboxes/docker
done
