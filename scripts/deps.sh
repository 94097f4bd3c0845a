#!/usr/bin/env bash
# Installs what a make target needs on a Debian host, only when missing.
#   scripts/deps.sh generate   clang-19, llvm-19, libbpf-dev (bpf2go; clang 15 or
#                              newer emits the BTF type tags of kptr fields)
#   scripts/deps.sh test       what the tests run: runc, podman, busybox-static,
#                              python3, redis, curl and wget (real servers and
#                              clients), iproute2, bpftool
#   scripts/deps.sh demo       the same
set -euo pipefail

want=()
need() { # need COMMAND-OR-FILE PACKAGE
	if [[ $1 == /* ]]; then [[ -e $1 ]] || want+=("$2"); else command -v "$1" >/dev/null 2>&1 || want+=("$2"); fi
}

case "${1:-}" in
generate)
	need clang-19 clang-19
	need llvm-strip-19 llvm-19
	need /usr/include/bpf/bpf_helpers.h libbpf-dev
	;;
test|demo|bench)
	need ip iproute2
	need python3 python3
	need runc runc
	need podman podman
	need /bin/busybox busybox-static
	need bpftool bpftool
	need redis-server redis-server
	need redis-benchmark redis-tools
	need curl curl
	need wget wget
	;;
*)
	echo "usage: $0 generate|test|demo|bench" >&2
	exit 2
	;;
esac

if ((${#want[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "missing packages: ${want[*]} (install them as root: apt-get install ${want[*]})" >&2
		exit 1
	fi
	echo "installing ${want[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
fi
