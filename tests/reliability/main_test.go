package reliability

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/hostsim"
)

var (
	longMode = flag.Bool("long", false, "run the long reliability suite (100+ kill points, bigger tenants, longer schedules)")
	seedFlag = flag.Uint64("seed", 0, "seed of the random choices (0: a new one, printed in the log)")
	kills    = flag.Int("kills", 0, "number of kill points (0: 20 in short mode, 120 in long mode)")
)

// appRoot is the handler built once for this test binary, in the deployable layout.
var appRoot string

func TestMain(m *testing.M) {
	flag.Parse()
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	root, err := azurite.ModuleRoot()
	if err != nil {
		return 1, err
	}
	dir, err := os.MkdirTemp("", "edi-reliability-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	appRoot, err = hostsim.BuildApp(ctx, root, filepath.Join(dir, "app"))
	cancel()
	if err != nil {
		return 1, err
	}
	return m.Run(), nil
}
