package nriplugin

import (
	"testing"

	"github.com/sockshim/sockshim/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
