// Package azurite runs the Azurite storage emulator (Blob, Queue, Table) for tests and local runs: started from the
// project's node_modules on free loopback ports with a temporary data folder, stopped cleanly, restartable on the
// same ports with the same data.
//
// A test binary shares one Azurite (Shared, with Main in TestMain) and gives every test its own containers,
// tables and queues (NewContainer, NewTable, NewQueue), so tests run in parallel without seeing each other's data.
package azurite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/entra-di/edi/tests/internal/proc"
)

// AccountName is Azurite's well-known development account.
const AccountName = "devstoreaccount1"

// AccountKey is the well-known key of AccountName. It is public (documented by Microsoft) but still treated as a
// secret by the product: tests check it never appears in responses or logs.
const AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

// DefaultStartTimeout bounds how long Start waits for all three services to accept connections.
const DefaultStartTimeout = 60 * time.Second

// stopTimeout is how long Stop waits after SIGTERM before it kills Azurite.
const stopTimeout = 15 * time.Second

// ErrNotInstalled is returned (wrapped) by Start when node_modules/.bin/azurite does not exist.
var ErrNotInstalled = errors.New("azurite is not installed")

// Options configure Start. A nil *Options means defaults.
type Options struct {
	// Root is the module root whose node_modules holds Azurite; "" walks up from the working directory to go.mod.
	Root string
	// Dir is the data folder (--location). "" means a new temporary folder that Stop removes.
	Dir string
	// InMemory keeps all data in memory (--inMemoryPersistence); a Restart then starts empty.
	InMemory bool
	// Output receives Azurite's stdout and stderr; nil discards them. The last lines are kept either way and
	// quoted in start errors.
	Output io.Writer
	// StartTimeout bounds the wait until Blob, Queue and Table accept connections; 0 means DefaultStartTimeout.
	StartTimeout time.Duration
}

// Server is a running Azurite. Its ports stay the same across Restart.
type Server struct {
	// BlobURL, QueueURL and TableURL are the service endpoints, e.g. http://127.0.0.1:41234/devstoreaccount1.
	BlobURL, QueueURL, TableURL string
	// BlobPort, QueuePort and TablePort are the loopback ports the services listen on.
	BlobPort, QueuePort, TablePort int
	// Dir is the data folder.
	Dir string

	bin     string
	opts    Options
	ownsDir bool
	tail    *tailBuffer

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current process has exited
	waitErr error
	stopped bool
}

// Start launches Azurite on three free loopback ports and waits until every service accepts connections.
func Start(ctx context.Context, opts *Options) (*Server, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	root := o.Root
	if root == "" {
		var err error
		if root, err = ModuleRoot(); err != nil {
			return nil, err
		}
	}
	bin := filepath.Join(root, "node_modules", ".bin", "azurite")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%w: %s not found; run `make tools` in %s to install it from package-lock.json", ErrNotInstalled, bin, root)
	}
	s := &Server{bin: bin, opts: o, Dir: o.Dir, tail: &tailBuffer{max: 8 << 10}}
	if s.Dir == "" {
		dir, err := os.MkdirTemp("", "azurite-")
		if err != nil {
			return nil, err
		}
		s.Dir, s.ownsDir = dir, true
	} else if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	// Ports are chosen once, so a restart keeps them; a port taken between choosing and binding is retried.
	var lastErr error
	for range 3 {
		ports, err := freePorts(3)
		if err != nil {
			return nil, err
		}
		s.BlobPort, s.QueuePort, s.TablePort = ports[0], ports[1], ports[2]
		s.BlobURL = endpoint(s.BlobPort)
		s.QueueURL = endpoint(s.QueuePort)
		s.TableURL = endpoint(s.TablePort)
		if lastErr = s.launch(ctx); lastErr == nil {
			return s, nil
		}
		if ctx.Err() != nil || !strings.Contains(s.tail.String(), "EADDRINUSE") {
			break
		}
	}
	s.cleanupDir()
	return nil, lastErr
}

func endpoint(port int) string {
	return "http://127.0.0.1:" + strconv.Itoa(port) + "/" + AccountName
}

// ConnectionString is the explicit connection string of this Azurite: the well-known account and key with the
// actual endpoints. (The Go SDKs reject the `UseDevelopmentStorage=true` shortcut.)
func (s *Server) ConnectionString() string {
	return "DefaultEndpointsProtocol=http;AccountName=" + AccountName + ";AccountKey=" + AccountKey +
		";BlobEndpoint=" + s.BlobURL + ";QueueEndpoint=" + s.QueueURL + ";TableEndpoint=" + s.TableURL + ";"
}

// BlobClient returns a Blob service client for this Azurite.
func (s *Server) BlobClient() (*azblob.Client, error) {
	return azblob.NewClientFromConnectionString(s.ConnectionString(), nil)
}

// TableClient returns a Table service client for this Azurite.
func (s *Server) TableClient() (*aztables.ServiceClient, error) {
	return aztables.NewServiceClientFromConnectionString(s.ConnectionString(), nil)
}

// QueueClient returns a Queue service client for this Azurite.
func (s *Server) QueueClient() (*azqueue.ServiceClient, error) {
	return azqueue.NewServiceClientFromConnectionString(s.ConnectionString(), nil)
}

func (s *Server) args() []string {
	a := []string{
		"--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(s.BlobPort),
		"--queueHost", "127.0.0.1", "--queuePort", strconv.Itoa(s.QueuePort),
		"--tableHost", "127.0.0.1", "--tablePort", strconv.Itoa(s.TablePort),
		"--silent",
		// The SDKs in go.mod may speak a newer service version than this Azurite release knows.
		"--skipApiVersionCheck",
		// Ignore headers and parameters Azurite does not implement instead of failing the request.
		"--loose",
		// No network beyond loopback in tests.
		"--disableTelemetry",
	}
	if s.opts.InMemory {
		// Azurite refuses --location together with --inMemoryPersistence; it runs in Dir (its working directory).
		a = append(a, "--inMemoryPersistence")
	} else {
		a = append(a, "--location", s.Dir)
	}
	return a
}

// launch starts the process and waits until the three ports accept connections.
func (s *Server) launch(ctx context.Context) error {
	cmd := exec.Command(s.bin, s.args()...)
	cmd.Dir = s.Dir
	out := io.Writer(s.tail)
	if s.opts.Output != nil {
		out = io.MultiWriter(s.tail, s.opts.Output)
	}
	cmd.Stdout, cmd.Stderr = out, out
	proc.Configure(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start azurite: %w", err)
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited, s.waitErr, s.stopped = cmd, exited, nil, false
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		close(exited)
	}()

	timeout := s.opts.StartTimeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := waitPorts(wctx, exited, s.BlobPort, s.QueuePort, s.TablePort); err != nil {
		_ = s.terminate(syscall.SIGKILL)
		return fmt.Errorf("azurite did not start (ports %d/%d/%d): %w\n%s", s.BlobPort, s.QueuePort, s.TablePort, err, s.tail.String())
	}
	return nil
}

// waitPorts dials each port until it accepts a connection, the process exits or ctx ends.
func waitPorts(ctx context.Context, exited <-chan struct{}, ports ...int) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var d net.Dialer
	for _, p := range ports {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		for {
			dctx, cancel := context.WithTimeout(ctx, time.Second)
			c, err := d.DialContext(dctx, "tcp", addr)
			cancel()
			if err == nil {
				_ = c.Close()
				break
			}
			select {
			case <-exited:
				return errors.New("azurite exited during start-up")
			case <-ctx.Done():
				return fmt.Errorf("port %d: %w", p, ctx.Err())
			case <-tick.C:
			}
		}
	}
	return nil
}

// Running reports whether the Azurite process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exited == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// terminate signals the process group and waits for the process to exit (killing it after stopTimeout).
func (s *Server) terminate(sig syscall.Signal) error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	select {
	case <-exited:
		return nil // already down (Halt, Kill)
	default:
	}
	// A paused Azurite cannot act on SIGTERM.
	_ = proc.SignalGroup(cmd.Process, syscall.SIGCONT)
	if err := proc.SignalGroup(cmd.Process, sig); err != nil {
		return err
	}
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		_ = proc.SignalGroup(cmd.Process, syscall.SIGKILL)
		<-exited
	}
	// Anything Azurite spawned is in its group; make sure nothing lingers.
	_ = proc.SignalGroup(cmd.Process, syscall.SIGKILL)
	return nil
}

// Stop shuts Azurite down gracefully (SIGTERM, so it saves its metadata) and removes the temporary data folder
// when Start created it. Stopping twice is harmless.
func (s *Server) Stop() error {
	s.mu.Lock()
	already := s.stopped
	s.stopped = true
	s.mu.Unlock()
	if already {
		return nil
	}
	err := s.terminate(syscall.SIGTERM)
	s.cleanupDir()
	return err
}

func (s *Server) cleanupDir() {
	if s.ownsDir {
		_ = os.RemoveAll(s.Dir)
	}
}

// Restart stops Azurite gracefully and starts it again on the same ports with the same data folder, as a storage
// outage in the middle of a run. Clients keep working once it is back.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return errors.New("azurite: restart after Stop")
	}
	s.mu.Unlock()
	if err := s.terminate(syscall.SIGTERM); err != nil {
		return err
	}
	return s.launch(ctx)
}

// Halt stops Azurite gracefully (SIGTERM) and keeps its data folder, as a storage outage: requests fail until
// Restart brings it back on the same ports with the same data.
func (s *Server) Halt() error {
	return s.terminate(syscall.SIGTERM)
}

// Kill ends Azurite with SIGKILL, as a crash: metadata not yet saved may be lost. Restart brings it back on the
// same ports.
func (s *Server) Kill() error {
	return s.terminate(syscall.SIGKILL)
}

// Pause freezes Azurite (SIGSTOP): connections are accepted by the kernel but never answered, as a hung service.
func (s *Server) Pause() error {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		return errors.New("azurite: not started")
	}
	return proc.SignalGroup(cmd.Process, syscall.SIGSTOP)
}

// Resume continues a paused Azurite.
func (s *Server) Resume() error {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		return errors.New("azurite: not started")
	}
	return proc.SignalGroup(cmd.Process, syscall.SIGCONT)
}

// ModuleRoot walks up from the working directory to the folder holding go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working directory")
		}
		dir = parent
	}
}

// freePorts reserves n distinct loopback ports by binding them all at once, then releases them.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

// Write keeps p, dropping the oldest bytes beyond max.
func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

// String returns the kept output.
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
