module github.com/sockshim/sockshim

go 1.26.8

require (
	github.com/cilium/ebpf v0.22.0
	github.com/containerd/cgroups/v3 v3.1.3
	golang.org/x/sys v0.50.0
)

require (
	github.com/containerd/log v0.1.0 // indirect
	github.com/coreos/go-systemd/v22 v22.5.0 // indirect
	github.com/godbus/dbus/v5 v5.1.0 // indirect
	github.com/opencontainers/runtime-spec v1.3.0 // indirect
	github.com/sirupsen/logrus v1.9.4 // indirect
	google.golang.org/protobuf v1.35.2 // indirect
)

tool github.com/cilium/ebpf/cmd/bpf2go
