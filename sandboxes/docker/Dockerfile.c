# Production sandbox image for c, for hosts that can pull from a registry.
# Build:  docker build -f sandboxes/docker/Dockerfile.c -t codetrans-sandbox/c:1 sandboxes/docker
# The Docker backend uses this image when it is present locally (image_mode="auto"), else it
# builds the offline image and binds the host's toolchains. The agent (sandboxes/agent.py and
# runner.py) is bound read-only at run time and needs /usr/bin/python3. The backend starts the
# agent as root with a few capabilities; it runs each program as its own unprivileged uid in
# /work/jN (/work: a root-owned 0755 tmpfs).
# The base is a build argument (--build-arg BASE_IMAGE=...): without a registry the tests build
# this file on a stand-in made from the host's packages (tests/sandboxes/production_images.py).
ARG BASE_IMAGE=gcc:12-bookworm
FROM ${BASE_IMAGE}
RUN [ -x /usr/bin/python3 ] || { apt-get update \
    && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*; }
RUN mkdir -p /work /job /opt/sandbox && chmod 0755 /work && chmod 1777 /tmp
WORKDIR /work
