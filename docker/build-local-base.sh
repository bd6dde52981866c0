#!/usr/bin/env bash
# Stand-in for the official Ray base image, for machines without access to Docker Hub.
#
# docker/Dockerfile builds on rayproject/ray:2.60.0-py311-gpu by default. Where Docker Hub cannot be
# reached, this script builds a local image with what the Dockerfile relies on from that base: Debian
# bookworm (its Python is 3.11), a user `ray` (uid 1000, group `users`, home /home/ray) and a Python 3.11
# environment at /home/ray/anaconda3/bin, first on PATH as in the Ray image, holding Ray 2.60. It has no
# CUDA libraries of its own; neither does the Ray image matter there: torch brings its CUDA runtime as pip
# packages (see docker/Dockerfile).
#
#   sudo bash docker/build-local-base.sh [IMAGE]          # default IMAGE: nasplatform-base:ray2.60.0-py311
#   docker build --network host --build-arg RAY_IMAGE=nasplatform-base:ray2.60.0-py311 \
#       -f docker/Dockerfile -t nasplatform:0.1.0 .
#
# Needs root, debootstrap and a Debian mirror (DEBIAN_MIRROR, default: the first deb.debian.org-style
# mirror of this machine's apt sources, else http://deb.debian.org/debian). The root CA certificates this
# machine trusts beyond Debian's own (/usr/local/share/ca-certificates) go into the image too, so that pip
# inside it reaches the package registry the way the host does (a TLS-inspecting proxy needs them).
# Every container, and the build, use the host's network (--network host).
set -euo pipefail

IMAGE=${1:-nasplatform-base:ray2.60.0-py311}
RAY_VERSION=${RAY_VERSION:-2.60.0}
SUITE=bookworm
HERE=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" != 0 ]; then
    echo "build-local-base.sh: debootstrap needs root" >&2
    exit 1
fi
if [ -z "${DEBIAN_MIRROR:-}" ]; then
    DEBIAN_MIRROR=$( (grep -rhoE '^(URIs:|deb)\s+\S+/debian/?(\s|$)' /etc/apt/sources.list /etc/apt/sources.list.d \
        2>/dev/null || true) | awk '{print $2; exit}')
    DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
fi

WORK=$(mktemp -d /var/tmp/nasplatform-base.XXXXXX)
ROOTFS_IMAGE="$IMAGE-rootfs"
cleanup() {
    rm -rf "$WORK"
    # The bare root filesystem image is only a step on the way.
    docker image rm "$ROOTFS_IMAGE" > /dev/null 2>&1 || true
}
trap cleanup EXIT

started=$(date +%s)
echo "build-local-base: debootstrap $SUITE from $DEBIAN_MIRROR into $WORK/rootfs"
debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    "$SUITE" "$WORK/rootfs" "$DEBIAN_MIRROR" > "$WORK/debootstrap.log" 2>&1 \
    || { tail -n 40 "$WORK/debootstrap.log" >&2; exit 1; }
# apt's package lists and the downloaded .debs are not wanted in an image.
rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
tar -C "$WORK/rootfs" -c . | docker import - "$ROOTFS_IMAGE" > /dev/null
echo "build-local-base: root filesystem imported as $ROOTFS_IMAGE ($(( $(date +%s) - started )) s)"

mkdir -p "$WORK/context/ca"
cp /usr/local/share/ca-certificates/*.crt "$WORK/context/ca/" 2>/dev/null || true
docker build --network host --build-arg ROOTFS_IMAGE="$ROOTFS_IMAGE" --build-arg RAY_VERSION="$RAY_VERSION" \
    -t "$IMAGE" -f "$HERE/local-base.Dockerfile" "$WORK/context"
echo "build-local-base: $IMAGE built in $(( $(date +%s) - started )) s," \
    "$(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}')"
