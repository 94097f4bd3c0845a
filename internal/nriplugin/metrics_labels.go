package nriplugin

import (
	"sync"

	"github.com/containerd/nri/pkg/api"
)

// containerLabels are the names Kubernetes knows a container by, which only
// the NRI events carry: the records keep ids. Kept from StartContainer,
// rebuilt at Synchronize, forgotten at stop and remove; a scrape reads them
// while events write them.
type containerLabels struct {
	mu   sync.Mutex
	byID map[string]containerName
}

type containerName struct{ pod, namespace, container string }

func newContainerLabels() *containerLabels {
	return &containerLabels{byID: map[string]containerName{}}
}

func nameOf(pod *api.PodSandbox, ctr *api.Container) containerName {
	return containerName{pod: pod.GetName(), namespace: pod.GetNamespace(), container: ctr.GetName()}
}

func (l *containerLabels) get(id string) containerName {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.byID[id]
}

// remember keeps the names of a container the runtime starts.
func (m *Metrics) remember(pod *api.PodSandbox, ctr *api.Container) {
	if m == nil {
		return
	}
	m.labels.mu.Lock()
	defer m.labels.mu.Unlock()
	m.labels.byID[ctr.GetId()] = nameOf(pod, ctr)
}

// forget drops the names of a container the runtime is done with.
func (m *Metrics) forget(id string) {
	if m == nil {
		return
	}
	m.labels.mu.Lock()
	defer m.labels.mu.Unlock()
	delete(m.labels.byID, id)
}

// rebuild replaces all names with those of the runtime's containers, at
// Synchronize: a restarted plugin has none, and events it missed leave
// stale ones.
func (m *Metrics) rebuild(podByID map[string]*api.PodSandbox, ctrs []*api.Container) {
	if m == nil {
		return
	}
	byID := make(map[string]containerName, len(ctrs))
	for _, ctr := range ctrs {
		byID[ctr.GetId()] = nameOf(podByID[ctr.GetPodSandboxId()], ctr)
	}
	m.labels.mu.Lock()
	defer m.labels.mu.Unlock()
	m.labels.byID = byID
}
