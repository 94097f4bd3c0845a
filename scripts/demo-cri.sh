#!/usr/bin/env bash
# make demo-cri: the NRI plugin under containerd 2.4.2, driven through CRI
# with crictl as the kubelet would drive it. Two host-network pods, both
# annotated io.sockshim.ports=8080, both serve HTTP on 8080; each reaches its
# own server by 8080, the host reaches each by its host port.
#
# Everything is private and removed on exit: containerd (its root, state,
# sockets, NRI socket under a temporary directory, the one of
# testdata/cri/containerd.toml), a bpffs and state directory of sockshim's own,
# a cgroup for containerd and the pods. The images are built here (busybox-
# static, the host's /usr mounted read-only) and imported: no registry.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/unmount-below.sh
S=${SOCKSHIM:-$PWD/bin/sockshim} # make demo-cri builds it
bin=$(scripts/deps.sh cri)
work=$(mktemp -d /tmp/sockshim-cri-demo.XXXXXX) # short: unix socket paths
sock=$work/containerd.sock

# sockshim's state: a bpffs and a state directory of this demo's own.
mkdir -p "$work/bpffs" "$work/state"
mount -t bpf bpf "$work/bpffs"
export SOCKSHIM_BPFFS=$work/bpffs/sockshim SOCKSHIM_STATE_DIR=$work/state

# The cgroup v2 mount (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid
# hosts) and, on hybrid hosts, the v1 ones where runc also puts containers.
mounts_of() { awk -v t="$1" '{ for (i = 1; i <= NF; i++) if ($i == "-") { if ($(i + 1) == t) print $5; break } }' /proc/self/mountinfo; }
cg2=$(mounts_of cgroup2 | head -n1)
[[ -n $cg2 ]] || { echo "no cgroup v2 mount" >&2; exit 1; }
cgname=sockshim-cri-demo-$$
mkdir -p "$cg2/$cgname/containerd"

containerd_pid="" plugin_pid=""
cleanup() {
	set +e
	[[ -n $containerd_pid ]] && crictl rmp --all --force >/dev/null 2>&1
	[[ -n $plugin_pid ]] && kill "$plugin_pid" 2>/dev/null && wait "$plugin_pid" 2>/dev/null
	[[ -n $containerd_pid ]] && kill "$containerd_pid" 2>/dev/null && wait "$containerd_pid" 2>/dev/null
	# What is left (shims, containers) runs in our cgroup: stop it by PID.
	for i in $(seq 50); do
		pids=$(find "$cg2/$cgname" -name cgroup.procs -exec cat {} + 2>/dev/null)
		[[ -z $pids ]] && break
		kill -9 $pids 2>/dev/null
		sleep 0.1
	done
	for m in "$cg2" $(mounts_of cgroup); do
		[[ -d $m/$cgname ]] && find "$m/$cgname" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	# sockshim's pins, and the anchor cgroup they keep (see README).
	"$S" reset >/dev/null 2>&1
	unmount_below "$work" # a pod's shm, a rootfs
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fetch() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().strip())' "$1"; }
crictl() { "$bin/crictl" --config "$work/crictl.yaml" "$@"; }
ctr() { "$bin/ctr" --address "$sock" --namespace k8s.io "$@"; }

step "containerd $("$bin/containerd" --version | awk '{print $3}') with NRI on, runc, cgroupfs (private: $work)"
sed "s|@ROOT@|$work|g" testdata/cri/containerd.toml >"$work/config.toml"
# What a user puts in /etc/crictl.yaml.
printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n' "$sock" "$sock" >"$work/crictl.yaml"
(
	echo "$BASHPID" >"$cg2/$cgname/containerd/cgroup.procs"
	PATH=$bin:$PATH exec "$bin/containerd" --config "$work/config.toml" >"$work/containerd.log" 2>&1
) &
containerd_pid=$!
for i in $(seq 100); do ctr version >/dev/null 2>&1 && break; sleep 0.1; done
ctr version >/dev/null 2>&1 || { tail -20 "$work/containerd.log"; exit 1; }

step "images: busybox-static as one layer, the sandbox (pause) and a workload image"
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,proc,sys,dev,tmp,etc,usr,run,www,var/tmp}
cp /bin/busybox "$rootfs/bin/"
for a in sh sleep cat httpd wget echo ls true; do ln -s busybox "$rootfs/bin/$a"; done
ln -s usr/lib "$rootfs/lib"
ln -s usr/lib64 "$rootfs/lib64"
echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
oci=$work/oci
mkdir -p "$oci/blobs/sha256"
blob() { # blob FILE: stores FILE as a blob, prints "DIGEST SIZE"
	local d
	d=$(sha256sum "$1" | cut -d' ' -f1)
	mv "$1" "$oci/blobs/sha256/$d"
	echo "sha256:$d $(stat -c %s "$oci/blobs/sha256/$d")"
}
tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 -C "$rootfs" -cf "$work/layer" .
read -r layer layer_size < <(blob "$work/layer")
manifests=""
for img in "pause:/bin/sleep 2147483647" "busybox:/bin/sh"; do
	name=${img%%:*} cmd=${img#*:}
	printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["%s"],"Env":["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
		"${cmd// /\",\"}" "$layer" >"$work/config"
	read -r config config_size < <(blob "$work/config")
	printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
		"$config" "$config_size" "$layer" "$layer_size" >"$work/manifest"
	read -r manifest manifest_size < <(blob "$work/manifest")
	manifests+="${manifests:+,}{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$manifest\",\"size\":$manifest_size,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},\"annotations\":{\"io.containerd.image.name\":\"localhost/sockshim/$name:cri\",\"org.opencontainers.image.ref.name\":\"cri\"}}"
done
echo '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
echo "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[$manifests]}" >"$oci/index.json"
tar -C "$oci" -cf "$work/images.tar" .
echo "ctr -n k8s.io images import images.tar"
ctr images import "$work/images.tar" >/dev/null 2>&1
echo "crictl images"
crictl images

step "sockshim nri --socket $work/nri.sock &"
"$S" nri --socket "$work/nri.sock" --log-level info 2>"$work/plugin.log" &
plugin_pid=$!
for i in $(seq 100); do grep -q msg=configured "$work/plugin.log" && break; sleep 0.1; done
grep -m1 msg=configured "$work/plugin.log" || { cat "$work/plugin.log"; exit 1; }

step "two host-network pods, io.sockshim.ports=8080, each with busybox httpd -f -p 8080"
for p in a b; do
	mkdir -p "$work/www-$p"
	echo "hello from pod web-$p" >"$work/www-$p/who"
	cat >"$work/pod-$p.json" <<-EOF
	{
	  "metadata": {"name": "web-$p", "namespace": "default", "uid": "web-$p"},
	  "annotations": {"io.sockshim.ports": "8080"},
	  "linux": {
	    "cgroup_parent": "/$cgname/pods",
	    "security_context": {"namespace_options": {"network": 2}}
	  }
	}
	EOF
	cat >"$work/httpd-$p.json" <<-EOF
	{
	  "metadata": {"name": "httpd"},
	  "image": {"image": "localhost/sockshim/busybox:cri"},
	  "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
	  "mounts": [
	    {"container_path": "/usr", "host_path": "/usr", "readonly": true},
	    {"container_path": "/www", "host_path": "$work/www-$p", "readonly": true}
	  ]
	}
	EOF
done
echo "pod-a.json:"
sed 's/^/  /' "$work/pod-a.json"
for p in a b; do
	echo "crictl runp pod-$p.json; crictl create POD httpd-$p.json pod-$p.json; crictl start CONTAINER"
	pod=$(crictl runp "$work/pod-$p.json")
	id=$(crictl create "$pod" "$work/httpd-$p.json" "$work/pod-$p.json")
	crictl start "$id" >/dev/null
	declare "id_$p=$id"
done

step "crictl pods; crictl ps"
crictl pods
crictl ps

step "sockshim ls"
"$S" ls

for p in a b; do
	id_var=id_$p id=${!id_var}
	step "sockshim port ${id:0:12} (web-$p)"
	"$S" port "${id:0:12}"
	h=$("$S" port "${id:0:12}" 8080 | cut -d: -f2)
	for i in $(seq 50); do fetch "http://127.0.0.1:$h/who" >/dev/null 2>&1 && break; sleep 0.1; done
	echo "host:   GET http://127.0.0.1:$h/who -> $(fetch "http://127.0.0.1:$h/who")"
	echo "web-$p: crictl exec ${id:0:12} wget -qO- http://127.0.0.1:8080/who -> $(crictl exec "$id" wget -qO- http://127.0.0.1:8080/who)"
done

step "a bad annotation: io.sockshim.ports=0 (CreateContainer refuses it)"
sed 's/"io.sockshim.ports": "8080"/"io.sockshim.ports": "0"/; s/web-a/bad/g' "$work/pod-a.json" >"$work/pod-bad.json"
pod=$(crictl runp "$work/pod-bad.json")
echo "crictl runp pod-bad.json; crictl create POD httpd-a.json pod-bad.json"
crictl create "$pod" "$work/httpd-a.json" "$work/pod-bad.json" 2>&1 | tail -n1 || true

step "crictl stopp, crictl rmp (the plugin detaches and frees the ports)"
crictl stopp $(crictl pods -q) >/dev/null
crictl rmp $(crictl pods -q) >/dev/null
"$S" ls
