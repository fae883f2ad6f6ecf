#!/usr/bin/env bash
# The tests, on a fresh machine: installs what the `mpi` feature and its multi-process
# tests need from the system's packages when it is missing (Open MPI's library,
# headers and `mpirun`; libclang for the binding generator), then runs every test of
# every crate with every feature. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenmpi-dev openmpi-bin libclang-dev)
if command -v dpkg >/dev/null && ! dpkg -s "${packages[@]}" >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get install -y -q "${packages[@]}" || {
        $sudo apt-get update -q && $sudo apt-get install -y -q "${packages[@]}"
    }
fi

cargo test --workspace --all-features "$@"
