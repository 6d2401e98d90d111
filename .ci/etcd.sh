#!/bin/sh
# Make sure an etcd server binary is available for spec/lease/etcd-lease.spec.ts (the tests start and stop their own
# loopback etcd; they fail rather than skip when it is missing). Debian/Ubuntu CI images: package etcd-server.
set -eu
if command -v "${TWINSTEP_ETCD:-etcd}" >/dev/null 2>&1; then
  "${TWINSTEP_ETCD:-etcd}" --version | head -n 1
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = "0" ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server
  etcd --version | head -n 1
  exit 0
fi
echo "etcd not found and apt-get unavailable: install etcd-server (etcd v3) or set TWINSTEP_ETCD" >&2
exit 1
