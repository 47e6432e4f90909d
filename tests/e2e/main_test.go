package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/entra-di/edi/tests/azurite"
	"github.com/entra-di/edi/tests/hostsim"
)

// appRoot is the app built once for this test binary; sampleSettings are local.settings.sample.json's values,
// the base of every test's app settings (as for a local run).
var (
	appRoot        string
	sampleSettings map[string]string
)

func TestMain(m *testing.M) {
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
	dir, err := os.MkdirTemp("", "edi-e2e-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	if sampleSettings, err = hostsim.LoadLocalSettings(filepath.Join(root, "local.settings.sample.json")); err != nil {
		return 1, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	appRoot, err = hostsim.BuildApp(ctx, root, filepath.Join(dir, "app"))
	cancel()
	if err != nil {
		return 1, err
	}
	code := m.Run()
	if err := azurite.StopShared(); err != nil {
		return 1, err
	}
	return code, nil
}
