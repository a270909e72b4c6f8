#!/usr/bin/env bash
# Prepare a Debian 12 test host for the nospof harness: podman and friends,
# container runtime settings where this host needs them, kernel settings for
# search nodes. Safe to run repeatedly; changes only what is missing.
set -euo pipefail

need_pkgs=(podman runc debootstrap uidmap fuse-overlayfs slirp4netns netavark aardvark-dns
           openssl make git python3-venv iptables)
missing=()
for p in "${need_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Runtime settings, as a drop-in of our own so a user's containers.conf is never
# clobbered. Written only when this host needs them:
#  - crun fails on cgroup v1/hybrid hosts ("cgroups in hybrid mode not supported");
#  - podman's default rlimits exceed what an unprivileged sandbox may set;
#  - netavark gives container-name DNS on networks we create.
dropin_dir=/etc/containers/containers.conf.d
dropin="$dropin_dir/50-nospof.conf"
want_runtime=""
if [ "$(stat -fc %T /sys/fs/cgroup)" != "cgroup2fs" ] || ! command -v crun >/dev/null; then
  want_runtime='runtime = "runc"'
fi
hard_nofile="$(ulimit -Hn)"
want_ulimits=""
if [ "$hard_nofile" != "unlimited" ] && [ "$hard_nofile" -lt 1048576 ]; then
  want_ulimits="default_ulimits = [\"nofile=${hard_nofile}:${hard_nofile}\", \"nproc=32768:32768\"]"
fi
content="# Written by nospof tools/setup-host.sh for this host's limits.
[containers]
${want_ulimits}
[engine]
${want_runtime}
[network]
network_backend = \"netavark\"
"
if [ ! -f "$dropin" ] || [ "$(cat "$dropin")" != "$(printf '%s' "$content")" ]; then
  mkdir -p "$dropin_dir"
  printf '%s' "$content" >"$dropin"
  echo "wrote $dropin"
fi
# Podman keeps the first network backend it used; reset it if CNI was picked
# before netavark was installed (only when no networks of the user's exist).
if [ "$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null)" != "netavark" ]; then
  if [ -z "$(podman network ls -q | grep -v '^podman$' || true)" ]; then
    rm -f /var/lib/containers/storage/defaultNetworkBackend
  else
    echo "podman uses the CNI backend and has networks; container-name DNS needs netavark" >&2
  fi
fi

# OpenSearch bootstrap checks need this on the host kernel (containers share it).
if [ "$(sysctl -n vm.max_map_count)" -lt 262144 ]; then
  sysctl -qw vm.max_map_count=262144 && echo "set vm.max_map_count=262144"
fi

