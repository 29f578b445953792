#!/usr/bin/env bash
# Installs the Debian packages the real node of the e2e tier needs (CI machines are fresh; nothing is assumed):
# containerd and runc run the pods, the CNI plugins wire them to the node's bridge, iptables serves kube-proxy
# and the network guard, podman/buildah build the images from worker_image/Dockerfile, mmdebstrap makes the
# Python base image, umoci packs the pause image. Idempotent: a machine that has them all installs nothing.
# No service is started: the node starts its own containerd with configuration under the project's cache.
set -euo pipefail

PACKAGES=(containerd runc containernetworking-plugins iptables conntrack podman buildah umoci skopeo mmdebstrap
  uidmap fuse-overlayfs)
COMMANDS=(containerd runc iptables conntrack podman buildah umoci skopeo mmdebstrap)

missing() {
  local name
  for name in "${COMMANDS[@]}"; do command -v "$name" >/dev/null || return 0; done
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] || return 0
  return 1
}

if ! missing; then
  echo "node packages: all present" >&2
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  # The real-node tests need root anyway and skip without it; everything else runs.
  echo "node packages: missing, and installing them needs root: the real-node tests will be skipped" >&2
  exit 0
fi
start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
# Without an init system nothing starts; with one, policy-rc.d would be needed to keep containerd from starting
# with the machine's /etc/containerd: refuse rather than guess.
if [[ -d /run/systemd/system ]]; then
  echo "node packages: this machine runs systemd; install the packages by hand: ${PACKAGES[*]}" >&2
  exit 1
fi
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >&2
echo "node packages: installed in $(( $(date +%s) - start )) s" >&2
