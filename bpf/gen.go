// Package bpf holds sockshim's eBPF programs and the code that loads them
// once, pins them under a bpffs directory, attaches them to cgroups and reads
// their maps.
package bpf

// The objects are built for little-endian BPF (amd64, arm64) and committed, so
// `go build` needs no clang. `make generate` reruns these lines.
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu" -no-global-types -type sock_key -type listener_key -type redirect_counters -type scope_key bypass c/bypass.c
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu" -type port_key -type host_port portmap c/portmap.c
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target bpfel -cflags "-O2 -g -Wall -Werror -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu" -no-global-types portsall c/ports_all.c
//go:generate go run buildid_gen.go bypass_bpfel.o portmap_bpfel.o portsall_bpfel.o
