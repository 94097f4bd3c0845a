#!/usr/bin/env bash
# Installs what a make target needs on a Debian host, only when missing.
#   scripts/deps.sh generate   clang-19, llvm-19, libbpf-dev (bpf2go; clang 15 or
#                              newer emits the BTF type tags of kptr fields)
#   scripts/deps.sh test       what the tests run: runc, podman, busybox-static,
#                              python3, redis, curl and wget (real servers and
#                              clients), iproute2, bpftool
#   scripts/deps.sh demo       the same
#   scripts/deps.sh cri        runc, busybox-static, python3 and wget, plus
#                              containerd, its runc shim, ctr and crictl built
#                              at pinned versions into $SOCKSHIM_CRI_CACHE
#                              (default /var/cache/sockshim/cri/<versions>),
#                              kept and reused; prints the bin directory
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
cri)
	need runc runc
	need /bin/busybox busybox-static
	need python3 python3
	need wget wget
	;;
*)
	echo "usage: $0 generate|test|demo|bench|cri" >&2
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

# The CRI tests drive a real containerd 2.x through crictl. Debian 12 has
# neither at these versions, so both are built from source through the Go
# module proxy (the one registry these hosts reach), outside the work tree so
# that every checkout shares one build and git clean keeps it. Keep the
# versions in step with internal/critest (binDir) and the README.
if [[ ${1:-} == cri ]]; then
	containerd_version=v2.4.2
	crictl_version=v1.37.0
	bin=${SOCKSHIM_CRI_CACHE:-/var/cache/sockshim/cri}/containerd-$containerd_version-crictl-$crictl_version/bin
	missing=0
	for t in containerd containerd-shim-runc-v2 ctr crictl; do [[ -x $bin/$t ]] || missing=1; done
	if ((missing)); then
		start=$SECONDS
		mkdir -p "$bin"
		echo "building containerd $containerd_version and crictl $crictl_version into $bin (a few minutes)" >&2
		# Static, without the snapshotters that need C libraries (overlayfs
		# and native remain); the versions stamped as a release build would.
		GOBIN=$bin CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install -tags 'no_btrfs no_devmapper no_zfs' \
			-ldflags "-X github.com/containerd/containerd/v2/version.Version=${containerd_version#v}" \
			github.com/containerd/containerd/v2/cmd/containerd@$containerd_version \
			github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$containerd_version \
			github.com/containerd/containerd/v2/cmd/ctr@$containerd_version
		GOBIN=$bin CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install \
			-ldflags "-X sigs.k8s.io/cri-tools/pkg/version.Version=${crictl_version#v}" \
			sigs.k8s.io/cri-tools/cmd/crictl@$crictl_version
		echo "built in $((SECONDS - start)) s" >&2
	fi
	echo "$bin"
fi
