package benchhttp_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The whole harness, as `make bench-http` runs it but with one-second
// loads: it builds both commands, and every read gets its row, the gRPC
// pair its line, and no problem is reported. The figures themselves are
// not judged: that is what the harness is for.
func TestRatiosEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server and seeds a full demo: about a minute")
	}
	for _, tool := range []string{"wrk", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (apt-get install wrk util-linux)", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := t.TempDir()
	for _, cmd := range []string{"redpoint", "redpoint-load"} {
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, cmd), "github.com/changzhi/redpoint/cmd/"+cmd).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", cmd, err, out)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "redpoint-load"), "ratios", "--server", filepath.Join(bin, "redpoint"),
		"--duration", "1s", "--runs", "1", "--conns", "4", "--gzip")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("redpoint-load ratios: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, row := range []string{"resident list 200", "resident list 304", "resident errand 200", "resident errand 304",
		"agent errand 200", "agent errand 304", "agent list IN_PROGRESS 200", "agent list IN_PROGRESS 304",
		"region 200", "service point 200", "errand types 200", "redpoint RSS after the REST load", "GetErrand", "Accept-Encoding: gzip"} {
		if !strings.Contains(out, row) {
			t.Errorf("no %q in\n%s", row, out)
		}
	}
	if strings.Contains(out, "problem:") || strings.Contains(out, " 0.0 MiB") || strings.Contains(out, "NaN") || strings.Contains(out, "Inf") {
		t.Errorf("a figure is missing or untrustworthy:\n%s", out)
	}
}
