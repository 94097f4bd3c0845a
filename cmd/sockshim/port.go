package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/cmdline"
	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/records"
)

const portUsage = `sockshim port [OPTIONS] ID [PORT[/PROTO]]

Prints the host ports of a container's (or run group's) virtual ports, as
podman port does: one "PORT/PROTO -> 0.0.0.0:HOSTPORT" line each. With PORT,
just the host address of that port (tcp unless /udp is given). ID may be a
unique prefix of the container id. Under io.sockshim.ports=all a port gets
its host port when the group first binds it: the mappings are read from the
kernel's maps, and a port not bound yet has none.
`

func cmdPort(args []string) int {
	fs := cmdline.NewFlagSet("port")
	opts := cmdline.AddOptions(fs)
	if code, ok := cmdline.Parse(fs, portUsage, args); !ok {
		return code
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return cmdline.Fail(cmdline.ExitUsage, "port: want ID [PORT[/PROTO]]")
	}
	store, err := records.Open(opts.StateDir)
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "port: %v", err)
	}
	rec, err := store.Find(fs.Arg(0))
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "port: %v", err)
	}
	mappings, err := currentMappings(opts, rec)
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "port: %v", err)
	}
	if fs.NArg() == 1 {
		for _, m := range mappings {
			fmt.Printf("%d/%s -> 0.0.0.0:%d\n", m.Port, m.Proto, m.HostPort)
		}
		return cmdline.ExitOK
	}
	num, proto, _ := strings.Cut(fs.Arg(1), "/")
	if proto == "" {
		proto = "tcp"
	}
	port, err := strconv.ParseUint(num, 10, 16)
	if err != nil {
		return cmdline.Fail(cmdline.ExitUsage, "port: %q is not a port", fs.Arg(1))
	}
	for _, m := range mappings {
		if m.Proto == proto && uint64(m.Port) == port {
			fmt.Printf("0.0.0.0:%d\n", m.HostPort)
			return cmdline.ExitOK
		}
	}
	if rec.All.Has(proto) {
		return cmdline.Fail(cmdline.ExitFailure, "port: %s has not bound %d/%s yet (under io.sockshim.ports=all a port gets its host port when it is first bound)", rec.ID, port, proto)
	}
	return cmdline.Fail(cmdline.ExitFailure, "port: %s has no mapping for %d/%s", rec.ID, port, proto)
}

// currentMappings are a group's mappings as they are now: the record's, or
// for an `all` group the kernel's, where its bind programs add them.
func currentMappings(opts *cmdline.Options, rec *records.Record) ([]ports.Mapping, error) {
	if !rec.All.Any() {
		return rec.Ports, nil
	}
	k, err := bpf.OpenMaps(opts.BPFFS)
	if err != nil {
		return nil, fmt.Errorf("%s is under io.sockshim.ports=all, whose ports only the kernel's maps hold: %w", rec.ID, err)
	}
	defer k.Close()
	return k.Mappings(rec.CgroupID)
}
