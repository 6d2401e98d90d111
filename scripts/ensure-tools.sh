#!/usr/bin/env bash
# Makes sure the Debian tools the test suite needs are present: clang + wasi-libc and rustc with its
# wasm32-wasi standard library (the guest drift test rebuilds the example guests) and etcd (the etcd lease tests start a real server). As root with apt-get
# it installs what is missing; otherwise it names the packages and fails.
set -euo pipefail
packages=(clang lld wasi-libc libclang-rt-14-dev-wasm32 rustc libstd-rust-dev-wasm32 etcd-server)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages the tests need: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "the tests need these Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
