package bench

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// shippedHandler extracts the handler from the package scripts/package.sh built (BENCH_PACKAGE), so the size and
// start-up measured are those of what is deployed.
func shippedHandler(b *testing.B) (path string, size int64) {
	b.Helper()
	zipPath := os.Getenv("BENCH_PACKAGE")
	if zipPath == "" {
		b.Skip("BENCH_PACKAGE is not set: run scripts/bench.sh, which builds the package first")
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		b.Fatal(err)
	}
	defer zr.Close()
	dir := b.TempDir()
	for _, f := range zr.File {
		if f.Name != "handler" && f.Name != "host.json" {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			b.Fatal(err)
		}
		out, err := os.OpenFile(filepath.Join(dir, f.Name), os.O_CREATE|os.O_WRONLY, f.Mode())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(out, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
		out.Close()
		if f.Name == "handler" {
			size = int64(f.UncompressedSize64)
		}
	}
	return filepath.Join(dir, "handler"), size
}

func freePort(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startOnce runs the handler as the Functions host does and returns the time from exec until its readiness probe
// (GET /) answers, and its resident set's high-water mark at that moment. The probe polls every millisecond here
// (the host polls every 25 ms).
func startOnce(b *testing.B, handler string) (time.Duration, int64) {
	port := freePort(b)
	cmd := exec.Command(handler)
	cmd.Dir = filepath.Dir(handler)
	cmd.Env = []string{
		"FUNCTIONS_CUSTOMHANDLER_PORT=" + strconv.Itoa(port),
		"FUNCTIONS_APP_ROOT_PATH=" + filepath.Dir(handler),
		"AzureWebJobsStorage=UseDevelopmentStorage=true",
		"COLLECT_LOGS_SCHEDULE=0 */5 * * * *",
	}
	client := &http.Client{Timeout: time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		resp, err := client.Get(url)
		if err == nil {
			ready := time.Since(start)
			resp.Body.Close()
			rss, err := peakRSS(cmd.Process.Pid)
			if err != nil {
				b.Fatal(err)
			}
			return ready, rss
		}
		select {
		case <-ctx.Done():
			b.Fatalf("handler not ready after 30 s: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
}

// BenchmarkColdStart starts the shipped handler 30 times and reports the median and 95th percentile time to ready,
// the median resident set once ready (the floor under every other memory figure), and the binary's size.
func BenchmarkColdStart(b *testing.B) {
	handler, size := shippedHandler(b)
	for b.Loop() {
		var times []time.Duration
		var rss []int64
		for range 30 {
			d, r := startOnce(b, handler)
			times, rss = append(times, d), append(rss, r)
		}
		slices.Sort(times)
		slices.Sort(rss)
		b.ReportMetric(float64(rss[len(rss)/2])/(1<<20), "MiB-RSS-ready")
		b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms-ready-median")
		b.ReportMetric(float64(times[len(times)*95/100].Microseconds())/1000, "ms-ready-p95")
		b.ReportMetric(float64(size)/(1<<20), "MiB-binary")
	}
}
