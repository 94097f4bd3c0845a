package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/cmdline"
	"github.com/sockshim/sockshim/internal/ports"
	"github.com/sockshim/sockshim/internal/records"
)

const lsUsage = `sockshim ls [--json] [OPTIONS]

Lists the containers and sockshim run groups under sockshim: id, kind,
cgroup, bypass, port mappings (PORT/PROTO->HOSTPORT) and the bytes their
sockets sent through the bypass redirect.

  --json   one JSON array; each entry has the keys id, kind, cgroup,
           bypass, bypass_ports (when the bypass is scoped to ports), all
           (under io.sockshim.ports=all: {"tcp": true, "udp": true}, each
           protocol the group has all of), ports (a list of {"port",
           "host_port", "proto"}), redirected_bytes, normal_path_switches
           and left_map

Under io.sockshim.ports=all a port gets its host port when the group first
binds it; ls reads those mappings from the kernel's maps, so it shows the
ports bound so far (PORTS begins with all, all/tcp or all/udp).
`

// lsEntry is one line of sockshim ls; its JSON form is part of the
// command's contract.
type lsEntry struct {
	ID     string       `json:"id"`
	Kind   records.Kind `json:"kind"`
	Cgroup string       `json:"cgroup"`
	Bypass bool         `json:"bypass"`
	// All: the protocols the group has all of (io.sockshim.ports=all);
	// then Ports are what the kernel maps now.
	All             ports.All       `json:"all,omitzero"`
	Ports           []ports.Mapping `json:"ports"`
	RedirectedBytes uint64          `json:"redirected_bytes"`
	// NormalPathSwitches counts the times a socket of the container stopped
	// redirecting because its peer's queue was full (its peer was not
	// reading): the bypass's flow control at work.
	NormalPathSwitches uint64 `json:"normal_path_switches"`
	// BypassPorts are the ports the bypass is scoped to (absent: all).
	BypassPorts []uint16 `json:"bypass_ports,omitempty"`
	// LeftMap counts the container's sockets that joined the bypass and
	// left it again because they began reading the blocking way, their
	// connection had a receive buffer set small at either end, or their peer
	// left.
	LeftMap uint64 `json:"left_map"`
}

func cmdLs(args []string) int {
	fs := cmdline.NewFlagSet("ls")
	asJSON := fs.Bool("json", false, "")
	opts := cmdline.AddOptions(fs)
	if code, ok := cmdline.Parse(fs, lsUsage, args); !ok {
		return code
	}
	entries, err := listEntries(opts)
	if err != nil {
		return cmdline.Fail(cmdline.ExitFailure, "ls: %v", err)
	}
	if *asJSON {
		out, _ := json.MarshalIndent(entries, "", "  ")
		fmt.Println(string(out))
		return cmdline.ExitOK
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tKIND\tBYPASS\tPORTS\tREDIRECTED\tCGROUP")
	for _, e := range entries {
		var ports []string
		if e.All.Any() {
			ports = append(ports, e.All.String())
		}
		for _, m := range e.Ports {
			ports = append(ports, fmt.Sprintf("%d/%s->%d", m.Port, m.Proto, m.HostPort))
		}
		p := strings.Join(ports, ",")
		if p == "" {
			p = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Kind, bypassColumn(e), p, humanBytes(e.RedirectedBytes), e.Cgroup)
	}
	w.Flush()
	return cmdline.ExitOK
}

func listEntries(opts *cmdline.Options) ([]lsEntry, error) {
	store, err := records.Open(opts.StateDir)
	if err != nil {
		return nil, err
	}
	recs, err := store.List()
	if err != nil {
		opts.Logger().Warn("some records could not be read", "error", err)
	}
	k, kerr := bpf.OpenMaps(opts.BPFFS)
	if kerr == nil {
		defer k.Close()
	}
	entries := []lsEntry{}
	for _, r := range recs {
		e := lsEntry{ID: r.ID, Kind: r.Kind, Cgroup: r.Cgroup, Bypass: r.Bypass, All: r.All, Ports: r.Ports, BypassPorts: r.BypassPorts}
		switch {
		case r.All.Any() && kerr != nil:
			// Only the kernel's maps hold the ports bound under all.
			opts.Logger().Warn("cannot read the kernel's maps: showing only the listed ports", "id", r.ID, "error", kerr)
		case r.All.Any():
			if e.Ports, err = k.Mappings(r.CgroupID); err != nil {
				return nil, err
			}
		}
		if e.Ports == nil {
			e.Ports = []ports.Mapping{}
		}
		if kerr == nil && r.Bypass {
			c, err := k.Counters(r.CgroupID)
			if err != nil {
				return nil, err
			}
			e.RedirectedBytes = c.Bytes
			e.NormalPathSwitches = c.NormalPath
			e.LeftMap = c.LeftMap
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// bypassColumn is true, false, or the ports the bypass is scoped to.
func bypassColumn(e lsEntry) string {
	if !e.Bypass || len(e.BypassPorts) == 0 {
		return fmt.Sprint(e.Bypass)
	}
	ports := make([]string, len(e.BypassPorts))
	for i, p := range e.BypassPorts {
		ports[i] = fmt.Sprint(p)
	}
	return strings.Join(ports, ",")
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
