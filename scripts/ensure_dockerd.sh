#!/usr/bin/env bash
# Makes sure a Docker daemon answers on $DOCKER_HOST (default unix:///var/run/docker.sock).
# Starts Debian's dockerd in the background when none answers and we are root; otherwise says
# why not. Always exits 0: without a daemon the docker-backend tests fail and say so (or skip
# with the reason under CODETRANS_ALLOW_MISSING=docker, outside CI; docs/testing.md).
set -u
host="${DOCKER_HOST:-unix:///var/run/docker.sock}"
sock="${host#unix://}"
answers() { docker -H "$host" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
answers && exit 0
if ! command -v dockerd >/dev/null 2>&1; then
  echo "no Docker daemon: dockerd is not installed (apt-get install docker.io)" >&2; exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "no Docker daemon answers on $host and we are not root to start one" >&2; exit 0
fi
mkdir -p /var/lib/docker-codetrans /var/log
nohup dockerd --host "unix://$sock" --data-root /var/lib/docker-codetrans \
  --pidfile /var/run/docker-codetrans.pid >/var/log/dockerd-codetrans.log 2>&1 &
for _ in $(seq 1 60); do answers && { echo "dockerd started on $host" >&2; exit 0; }; sleep 0.5; done
echo "dockerd did not answer within 30 s; see /var/log/dockerd-codetrans.log" >&2
exit 0
