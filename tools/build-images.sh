#!/usr/bin/env bash
# Build the Debian systemd base images used by molecule and the lab, with
# debootstrap from Debian's archive (no container registry is needed).
# An image is rebuilt only when its recipe (this file) changes: the tag carries
# a hash of the recipe, and localhost/nospof-debian:<suite> points at the newest.
set -euo pipefail

MIRROR="${NOSPOF_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SUITES="${NOSPOF_SUITES:-bookworm trixie}"
PACKAGES="python3,python3-apt,systemd,systemd-sysv,dbus,iproute2,procps,ca-certificates"
RECIPE_HASH="$( { cat "$0"; echo "$PACKAGES"; } | sha256sum | cut -c1-12)"
CACHE_DIR="${NOSPOF_CACHE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.cache}"

build_one() {
  local suite="$1" tag="localhost/nospof-debian:${1}-${RECIPE_HASH}"
  if podman image exists "$tag"; then
    echo "image $tag is cached"
  else
    local rootfs
    rootfs="$(mktemp -d "${TMPDIR:-/tmp}/nospof-rootfs-${suite}.XXXXXX")"
    echo "building $tag with debootstrap (about 40 s)"
    debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$rootfs" "$MIRROR" \
      >"$CACHE_DIR/debootstrap-${suite}.log" 2>&1 || {
        echo "debootstrap of $suite failed; see $CACHE_DIR/debootstrap-${suite}.log" >&2
        tail -20 "$CACHE_DIR/debootstrap-${suite}.log" >&2
        rm -rf "$rootfs"; return 1; }
    # A container is not a machine: no consoles, no udev, no first-boot wizard,
    # and an empty machine-id so every container gets its own.
    for unit in getty@tty1.service console-getty.service systemd-udevd.service \
                systemd-udev-trigger.service systemd-firstboot.service \
                systemd-remount-fs.service sys-kernel-debug.mount; do
      ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
    done
    : >"$rootfs/etc/machine-id"
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
    tar -C "$rootfs" -c . | podman import \
      --change 'CMD ["/sbin/init"]' --change 'STOPSIGNAL SIGRTMIN+3' - "$tag" >/dev/null 2>&1
    rm -rf "$rootfs"
  fi
  podman tag "$tag" "localhost/nospof-debian:${suite}"
}

mkdir -p "$CACHE_DIR"
for suite in $SUITES; do build_one "$suite"; done
