package mountinfo

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	table := "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" +
		"32 31 0:29 / /sys/fs/cgroup/cpu rw shared:5 - cgroup cgroup rw,cpu\n" +
		`41 31 0:38 / /sys/fs/cgroup/uni\040fied rw - cgroup2 cgroup2 rw` + "\n" +
		"short line\n"
	got, err := Parse(strings.NewReader(table))
	want := []Mount{{"/sys/fs/cgroup", "tmpfs"}, {"/sys/fs/cgroup/cpu", "cgroup"}, {"/sys/fs/cgroup/uni fied", "cgroup2"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse: %v, %v; want %v", got, err, want)
	}
}

func TestReadFindsRoot(t *testing.T) {
	mounts, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		if m.Point == "/" {
			return
		}
	}
	t.Fatalf("no mount at / among %d", len(mounts))
}
