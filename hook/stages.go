package hook

import (
	"log/slog"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/sockshim/sockshim/internal/group"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/oci"
)

// start is prestart and createRuntime: the container's init process exists
// and none of its code has run.
func start(cfg Config, log *slog.Logger, st *specs.State) error {
	ann := annotations(log, st)
	settings, found, err := oci.ParseSettings(func(k string) (string, bool) { v, ok := ann[k]; return v, ok })
	if err != nil || !found || !settings.Wanted() {
		return err
	}
	core, err := group.Open(cfg.BPFFS, cfg.StateDir, log)
	if err != nil {
		return err
	}
	defer core.Close()
	_, err = core.StartContainer(group.Container{Kind: records.KindContainer, ID: st.ID, Pid: st.Pid, Settings: settings, Pool: cfg.Pool})
	return err
}

// stop is poststop: the container is gone, only its id is left.
func stop(cfg Config, log *slog.Logger, st *specs.State) error {
	core, err := group.Open(cfg.BPFFS, cfg.StateDir, log)
	if err != nil {
		return err
	}
	defer core.Close()
	return core.StopContainer(st.ID)
}
