# Sourced by the demos: unmount_below DIR unmounts every mount at or below
# DIR, deepest first (podman's storage overlay directory, bind-mounted on
# itself; a pod's shm; a rootfs), so that DIR can be removed.
unmount_below() {
	awk -v w="$1" '$5 == w || index($5, w "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
}
