# assistant-controller as a service: `controller watch --git URL -t TARGET --listen 0.0.0.0:8080`.
# Name the target of the repository's controller.yaml with -t or CONTROLLER_TARGET, and its
# place in the checkout (when not at the root) with --config or CONTROLLER_CONFIG.
# Linted with hadolint (tests/test_deploy.py); see "Run it as a service" in README.md for how to run it.
FROM python:3.12.11-slim-bookworm

# git fetches the manifests (`watch --git`); openssh-client serves ssh:// and git@ URLs.
# Not version-pinned on purpose: the base image tag already pins the Debian release, and
# an exact Debian revision disappears from the mirror with its next security fix, which
# would break every rebuild.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git openssh-client \
    && rm -rf /var/lib/apt/lists/*

# No .pyc writes (the root filesystem is read-only in Kubernetes); logs unbuffered.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY controller ./controller
RUN pip install --no-cache-dir . \
    && rm -rf /src

# A fixed numeric UID so Kubernetes can verify runAsNonRoot without a user lookup.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/controller controller
USER 10001:10001
ENV HOME=/home/controller
WORKDIR /home/controller

EXPOSE 8080
ENTRYPOINT ["controller"]
CMD ["watch", "--help"]
