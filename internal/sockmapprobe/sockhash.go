// Package sockmapprobe asks the running kernel how its sockmap receive path
// treats a socket in a SOCKHASH: a private, unpinned map and a loopback
// connection, attached to no cgroup. sockshim doctor reports what it finds;
// the first load decides from it whether the bypass's map needs the no-op
// stream_verdict (the FIONREAD regression).
package sockmapprobe

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// Sockhash is a private, unpinned SOCKHASH for the receive-path probes,
// optionally with a no-op SK_SKB stream_verdict attached, as sockshim runs
// its own map on kernels with the FIONREAD regression.
type Sockhash struct {
	m      *ebpf.Map
	prog   *ebpf.Program
	attach link.RawAttachProgramOptions
}

// NewSockhash makes the map, with the no-op verdict attached when
// withVerdict.
func NewSockhash(withVerdict bool) (_ *Sockhash, err error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "sockshim_probe",
		Type:       ebpf.SockHash,
		KeySize:    4,
		ValueSize:  8,
		MaxEntries: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("create SOCKHASH: %w", err)
	}
	s := &Sockhash{m: m}
	if !withVerdict {
		return s, nil
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:       "sockshim_probe",
		Type:       ebpf.SkSKB,
		AttachType: ebpf.AttachSkSKBStreamVerdict,
		License:    "GPL",
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, 1), // SK_PASS
			asm.Return(),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("load stream_verdict: %w", err)
	}
	attach := link.RawAttachProgramOptions{Target: m.FD(), Program: s.prog, Attach: ebpf.AttachSkSKBStreamVerdict}
	if err := link.RawAttachProgram(attach); err != nil {
		return nil, fmt.Errorf("attach stream_verdict to SOCKHASH: %w", err)
	}
	s.attach = attach
	return s, nil
}

// Insert puts the socket fd into the map. The verdict (when there is one)
// is applied to a socket when it enters the map, so it is attached first.
func (s *Sockhash) Insert(fd int) error {
	if err := s.m.Update(uint32(0), uint64(fd), ebpf.UpdateAny); err != nil {
		return fmt.Errorf("insert the receiving socket into the SOCKHASH: %w", err)
	}
	return nil
}

// Close detaches the verdict and closes the program and the map; sockets
// still in the map leave it when the map goes.
func (s *Sockhash) Close() {
	if s.attach.Program != nil {
		link.RawDetachProgram(link.RawDetachProgramOptions(s.attach))
	}
	if s.prog != nil {
		s.prog.Close()
	}
	s.m.Close()
}
