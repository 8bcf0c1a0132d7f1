# Production sandbox image for ruby (DESIGN.md section 5), for hosts that can pull from a registry.
# Build:  docker build -f sandboxes/docker/Dockerfile.ruby -t codetrans-sandbox/ruby:1 sandboxes/docker
# The Docker backend uses this image when it is present locally (image_mode="auto"), else it
# builds the offline image and binds the host's toolchains. The agent (sandboxes/agent.py and
# runner.py) is bound read-only at run time and needs /usr/bin/python3; programs run as uid
# 65534 in /work (a tmpfs whose mode comes from this image's /work).
FROM ruby:3.1-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/*
RUN mkdir -p /work /job /opt/sandbox && chmod 1777 /work /tmp
USER 65534:65534
WORKDIR /work
