#!/usr/bin/env bash
# make demo: two groups both serving on port 3000 at the same time, each
# client reaching its own server by 3000, the host reaching each by its host
# port, then a short RTT comparison with and without the bypass.
set -euo pipefail
cd "$(dirname "$0")/.."
S=$PWD/bin/sockshim
work=$(mktemp -d /tmp/sockshim-demo.XXXXXX)
bpffs=${SOCKSHIM_BPFFS:-/sys/fs/bpf/sockshim}
fresh_pins=0
[[ -e $bpffs ]] || fresh_pins=1
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	# Leave the host as we found it: unpin what this demo loaded.
	((fresh_pins)) && "$S" reset || true
	rm -rf "$work"
}
trap cleanup EXIT

fetch() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().strip())' "$1"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "two groups, each serving HTTP on 127.0.0.1:3000 at the same time"
for g in a b; do
	mkdir -p "$work/$g"
	echo "hello from group demo-$g" >"$work/$g/who"
	# The server and, once it answers, a client in the same group.
	"$S" run --ports 3000 --bypass --name "demo-$g" -- sh -c '
		python3 -m http.server 3000 --bind 127.0.0.1 --directory "$1" >/dev/null 2>&1 &
		for i in $(seq 50); do
			if out=$(python3 -c "import urllib.request; print(urllib.request.urlopen(\"http://127.0.0.1:3000/who\", timeout=1).read().decode().strip())" 2>/dev/null); then
				echo "inside $2: GET http://127.0.0.1:3000/who -> $out"; break
			fi
			sleep 0.1
		done
		wait' sh "$work/$g" "demo-$g" &
	pids+=($!)
done
sleep 2

step "sockshim ls"
"$S" ls

step "from the host, each server by its host port"
for g in a b; do
	h=$("$S" ls --json | python3 -c 'import json,sys; print(next(p["host_port"] for e in json.load(sys.stdin) if e["id"]==sys.argv[1] for p in e["ports"]))' "demo-$g")
	echo "host: GET http://127.0.0.1:$h/who -> $(fetch "http://127.0.0.1:$h/who")"
done

step "stopping both groups (sockshim run removes its cgroup, links and record)"
for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
"$S" ls

step "round-trip time, 1 KiB requests, plain loopback vs bypass vs AF_UNIX"
"$S" bench --requests 20000
