// Package nriplugin is sockshim as a containerd / CRI-O NRI plugin: the OCI
// hook's treatment, driven by container lifecycle events.
package nriplugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/containerd/nri/pkg/api"
	nriplugin "github.com/containerd/nri/pkg/plugin"

	"github.com/sockshim/sockshim/bpf"
	"github.com/sockshim/sockshim/internal/group"
	"github.com/sockshim/sockshim/internal/records"
	"github.com/sockshim/sockshim/oci"
)

// Kind marks the records this plugin owns (ls shows it); Synchronize only
// reconciles these, never the OCI hook's or sockshim run's.
const Kind = records.KindNRI

// Plugin handles the NRI events. Its state is the pinned kernel objects and
// the records, so a restarted plugin picks up where the last one stopped.
type Plugin struct {
	K     *bpf.Kernel
	Store *records.Store
	Pool  group.Pool
	Log   *slog.Logger
	// Metrics, when not nil, count the set-ups and tear-downs and keep
	// the Kubernetes names of the containers for their per-container
	// metrics.
	Metrics *Metrics
}

// Configure subscribes to the events the plugin handles.
func (p *Plugin) Configure(_ context.Context, _, runtime, version string) (api.EventMask, error) {
	p.Log.Info("configured", "runtime", runtime, "version", version)
	return api.MustParseEventMask("CreateContainer,StartContainer,StopContainer,RemoveContainer"), nil
}

// settings are a container's effective sockshim annotations: the
// container-scoped key (KEY/container.NAME) first, then KEY/pod, then KEY,
// on the pod; then the container's own annotations.
func settings(pod *api.PodSandbox, ctr *api.Container) (oci.Settings, bool, error) {
	return oci.ParseSettings(func(key string) (string, bool) {
		if v, ok := nriplugin.GetEffectiveAnnotation(pod, key, ctr.GetName()); ok {
			return v, true
		}
		v, ok := ctr.GetAnnotations()[key]
		return v, ok
	})
}

// CreateContainer refuses a container whose annotations do not parse; the
// runtime then fails its creation with this error.
func (p *Plugin) CreateContainer(_ context.Context, pod *api.PodSandbox, ctr *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	if _, _, err := settings(pod, ctr); err != nil {
		p.Log.Warn("refusing container", "container", ctr.GetName(), "error", err)
		p.Metrics.badAnnotation()
		return nil, nil, fmt.Errorf("sockshim: container %s: %w", ctr.GetName(), err)
	}
	return nil, nil, nil
}

// StartContainer comes before the container's process runs its code: the
// prestart treatment.
func (p *Plugin) StartContainer(_ context.Context, pod *api.PodSandbox, ctr *api.Container) error {
	err := p.setUp(pod, ctr)
	if err != nil {
		// The runtime may only log a failed event: say it here too.
		p.Log.Error("set-up failed", "container", ctr.GetName(), "error", err)
	}
	return err
}

// StopContainer and RemoveContainer: the poststop treatment, idempotent.
func (p *Plugin) StopContainer(_ context.Context, _ *api.PodSandbox, ctr *api.Container) ([]*api.ContainerUpdate, error) {
	return nil, p.tearDown(ctr.GetId())
}

func (p *Plugin) RemoveContainer(_ context.Context, _ *api.PodSandbox, ctr *api.Container) error {
	defer p.Metrics.forget(ctr.GetId()) // the runtime is done with it, whatever the tear-down did
	return p.tearDown(ctr.GetId())
}

// Synchronize reconciles with the runtime at plugin start (and restart):
// running containers that should be treated and are not get set up, records
// of containers the runtime no longer has are removed. Containers already set
// up are left exactly as they are, so a restart disturbs no mapping and no
// connection.
func (p *Plugin) Synchronize(_ context.Context, pods []*api.PodSandbox, ctrs []*api.Container) ([]*api.ContainerUpdate, error) {
	podByID := map[string]*api.PodSandbox{}
	for _, pod := range pods {
		podByID[pod.GetId()] = pod
	}
	p.Metrics.rebuild(podByID, ctrs)
	live := map[string]bool{}
	var errs []error
	for _, ctr := range ctrs {
		live[ctr.GetId()] = true
		if ctr.GetState() != api.ContainerState_CONTAINER_RUNNING {
			continue
		}
		if _, err := p.Store.Read(ctr.GetId()); err == nil {
			continue
		}
		if err := p.setUp(podByID[ctr.GetPodSandboxId()], ctr); err != nil {
			errs = append(errs, err)
		}
	}
	recs, err := p.Store.List()
	if err != nil {
		errs = append(errs, err)
	}
	for _, r := range recs {
		if r.Kind == Kind && !live[r.ID] {
			p.Log.Info("removing a container the runtime no longer has", "container", r.ID)
			if err := p.tearDown(r.ID); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return nil, errors.Join(errs...)
}

// core is the shared core over the plugin's open objects.
func (p *Plugin) core(ctr string) *group.Core {
	return group.NewCore(p.K, p.Store, p.Log.With("container", ctr))
}

func (p *Plugin) setUp(pod *api.PodSandbox, ctr *api.Container) error {
	p.Metrics.remember(pod, ctr)
	s, found, err := settings(pod, ctr)
	switch {
	case err != nil:
		p.Metrics.badAnnotation()
	case found:
		start := time.Now()
		var rec *records.Record
		rec, err = p.core(ctr.GetName()).StartContainer(group.Container{Kind: Kind, ID: ctr.GetId(), Pid: int(ctr.GetPid()), Settings: s, Pool: p.Pool})
		p.Metrics.setUp(s, int(ctr.GetPid()), rec, err, time.Since(start))
	}
	if err != nil {
		return fmt.Errorf("sockshim: container %s: %w", ctr.GetName(), err)
	}
	return nil
}

func (p *Plugin) tearDown(id string) error {
	counted := p.Metrics.tearingDown(p.Store, id)
	err := p.core(id).StopContainer(id)
	counted(err)
	if err != nil {
		return fmt.Errorf("sockshim: container %s: %w", id, err)
	}
	p.Metrics.forget(id)
	return nil
}
