#!/usr/bin/env bash
# make demo: two podman containers on the host network both serve on port
# 3000, with io.sockshim.ports=3000 and io.sockshim.bypass=true; each reaches
# its own server by 3000, the host reaches each by its host port; then the
# round-trip time between two containers with and without the bypass.
#
# Runs on a fresh Debian host as root: it uses runc (crun refuses hybrid
# cgroup hosts), the cgroupfs manager, the ulimits a host without
# CAP_SYS_RESOURCE allows, private podman storage, and a root filesystem made
# of busybox-static plus the host's /usr read-only. It cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/unmount-below.sh
S=$PWD/bin/sockshim
work=$(mktemp -d /tmp/sockshim-demo.XXXXXX) # short: podman limits runroot to 50 characters
bpffs=${SOCKSHIM_BPFFS:-/sys/fs/bpf/sockshim}
fresh_pins=0
[[ -e $bpffs ]] || fresh_pins=1
state=${SOCKSHIM_STATE_DIR:-/run/sockshim}
fresh_state=0
[[ -e $state ]] || fresh_state=1

export CONTAINERS_CONF=$PWD/scripts/containers.conf
podman() { command podman --root "$work/storage" --runroot "$work/run" --hooks-dir "$work/hooks.d" "$@"; }

cleanup() {
	podman rm -f -t 0 -a >/dev/null 2>&1 || true
	((fresh_pins)) && "$S" reset || true
	# The state directory too, when the demo made it and left no record.
	if ((fresh_state)); then rmdir "$state/groups" 2>/dev/null && rm -f "$state/lock" && rmdir "$state" || true; fi
	unmount_below "$work" # podman's storage overlay directory stays mounted
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fetch() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().strip())' "$1"; }

# Root filesystem: busybox-static and its applets; /usr comes from the host.
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,proc,sys,dev,tmp,etc,usr,run,www,var/tmp}
cp /bin/busybox "$rootfs/bin/"
for a in sh sleep cat httpd wget echo; do ln -s busybox "$rootfs/bin/$a"; done
ln -s usr/lib "$rootfs/lib"
ln -s usr/lib64 "$rootfs/lib64"
echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"

step "sockshim install --hooks-dir $work/hooks.d"
"$S" install --hooks-dir "$work/hooks.d"

run_opts=(--network host -v /usr:/usr:ro -v "$S:/sockshim:ro")
step "two containers, both serving HTTP on port 3000 of the host network"
for c in a b; do
	mkdir -p "$work/www-$c"
	echo "hello from container demo-$c" >"$work/www-$c/who"
	echo "podman run -d --name demo-$c --network host --annotation io.sockshim.ports=3000 --annotation io.sockshim.bypass=true ... httpd -f -p 3000"
	podman run -d --name "demo-$c" "${run_opts[@]}" -v "$work/www-$c:/www:ro" \
		--annotation io.sockshim.ports=3000 --annotation io.sockshim.bypass=true \
		--rootfs "$rootfs" httpd -f -p 3000 -h /www >/dev/null
done

step "sockshim ls"
"$S" ls

for c in a b; do
	id=$(podman inspect --format '{{.Id}}' "demo-$c")
	step "sockshim port demo-$c (${id:0:12})"
	"$S" port "${id:0:12}"
	h=$("$S" port "${id:0:12}" 3000 | cut -d: -f2)
	for i in $(seq 50); do fetch "http://127.0.0.1:$h/who" >/dev/null 2>&1 && break; sleep 0.1; done
	echo "host:     GET http://127.0.0.1:$h/who -> $(fetch "http://127.0.0.1:$h/who")"
	echo "demo-$c:   GET http://127.0.0.1:3000/who -> $(podman exec "demo-$c" wget -qO- http://127.0.0.1:3000/who)"
done

step "io.sockshim.ports=all: a container serving on a port its annotations never name (4711)"
mkdir -p "$work/www-all"
echo "hello from container demo-all" >"$work/www-all/who"
echo "podman run -d --name demo-all --network host --annotation io.sockshim.ports=all ... httpd -f -p 4711"
podman run -d --name demo-all "${run_opts[@]}" -v "$work/www-all:/www:ro" \
	--annotation io.sockshim.ports=all --rootfs "$rootfs" httpd -f -p 4711 -h /www >/dev/null
id=$(podman inspect --format '{{.Id}}' demo-all)
# The host port is taken when the server binds: wait for it.
for i in $(seq 50); do "$S" port "${id:0:12}" 4711 >/dev/null 2>&1 && break; sleep 0.1; done
echo "sockshim port ${id:0:12} 4711 -> $("$S" port "${id:0:12}" 4711)"
h=$("$S" port "${id:0:12}" 4711 | cut -d: -f2)
for i in $(seq 50); do fetch "http://127.0.0.1:$h/who" >/dev/null 2>&1 && break; sleep 0.1; done
echo "host:     GET http://127.0.0.1:$h/who -> $(fetch "http://127.0.0.1:$h/who")"
podman rm -f -t 0 demo-all >/dev/null

step "round trip between two containers: 20000 requests of 1 KiB over non-blocking sockets with epoll (the bypass carries only those), client and server pinned to CPU 0, median of 3 interleaved rounds"
rtt() { # rtt FILE [ANNOTATION...]: one echo server container, one client container; the client's JSON figures go to FILE
	local file=$1; shift
	local ann=()
	for a in "$@"; do ann+=(--annotation "$a"); done
	podman run -d --name rtt-srv "${run_opts[@]}" "${ann[@]}" --rootfs "$rootfs" \
		/sockshim __bench-echo tcp 127.0.0.1 1024 0 >/dev/null
	local port=""
	for i in $(seq 50); do port=$(podman logs rtt-srv 2>/dev/null | head -n1); [[ -n $port ]] && break; sleep 0.1; done
	podman run --rm --name rtt-cli "${run_opts[@]}" "${ann[@]}" --rootfs "$rootfs" \
		/sockshim __bench-client tcp "$port" 20000 1024 0 >"$file"
	podman rm -f -t 0 rtt-srv >/dev/null
}
# This VM's loopback figures swing by half from one run to the next, so the
# two paths take turns and each reports its median round.
for round in 1 2 3; do
	rtt "$work/rtt-plain-$round.json" io.sockshim.bypass=false
	rtt "$work/rtt-bypass-$round.json" io.sockshim.bypass=true
done
python3 - "$work" <<'PY'
import json, sys
def median_round(path):
    rounds = [json.load(open(f"{sys.argv[1]}/rtt-{path}-{r}.json")) for r in (1, 2, 3)]
    return sorted(rounds, key=lambda r: r["mean_us"])[1]
p, b = median_round("plain"), median_round("bypass")
for label, r in (("host network, no bypass", p), ("host network, io.sockshim.bypass", b)):
    print(f"{label:<34} mean {r['mean_us']:6.2f} µs   p50 {r['p50_us']:6.2f}   p99 {r['p99_us']:6.2f}")
print(f"bypass/plain: mean {b['mean_us'] / p['mean_us']:.2f}, p99 {b['p99_us'] / p['p99_us']:.2f}")
PY

step "podman rm -f demo-a demo-b (poststop detaches and frees the ports)"
podman rm -f -t 0 demo-a demo-b >/dev/null
"$S" ls
