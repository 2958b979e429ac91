//go:build realprograms && linux && amd64

package main

// The real programs of issue 9, natively and under epollbox: a Go net/http
// server (testdata/httpserver) driven by wrk, redis-server by
// redis-benchmark, nginx (master and 2 workers) by wrk, each on a loopback
// port, for a bounded number of requests. Each must answer with zero
// errors and shut down cleanly (exit status 0, no process left). It prints
// requests per second native vs boxed, each program's mean service time
// per trapped call (epollbox -stats), and what one trapped call costs
// (seccompbox's BenchmarkOverhead, run after the programs). Run it with
//
//	go test -tags realprograms -count=1 -v -run TestRealPrograms ./cmd/epollbox
//
// Missing programs are installed from Debian's packages (redis-server,
// nginx-light, wrk) with apt-get.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func ensurePrograms(t *testing.T) {
	var missing []string
	for bin, pkg := range map[string]string{"redis-server": "redis-server", "redis-benchmark": "redis-tools", "redis-cli": "redis-tools", "nginx": "nginx-light", "wrk": "wrk"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		return
	}
	t.Logf("installing %v", missing)
	out, err := exec.Command("apt-get", append([]string{"install", "-y", "-q"}, missing...)...).CombinedOutput()
	if err != nil {
		exec.Command("apt-get", "update", "-q").Run()
		if out, err = exec.Command("apt-get", append([]string{"install", "-y", "-q"}, missing...)...).CombinedOutput(); err != nil {
			t.Fatalf("apt-get install %v: %v\n%s", missing, err, out)
		}
	}
}

// server is one run of a server program, natively or under epollbox.
type server struct {
	cmd    *exec.Cmd
	stderr strings.Builder
	done   chan struct{} // closed when the process has been waited for
	err    error
}

func start(t *testing.T, boxed bool, epollbox string, args ...string) (*server, *bufio.Reader) {
	t.Helper()
	if boxed {
		args = append([]string{epollbox, "-stats", "--"}, args...)
	}
	s := &server{cmd: exec.Command(args[0], args[1:]...), done: make(chan struct{})}
	s.cmd.Stderr = &s.stderr
	s.cmd.WaitDelay = 5 * time.Second
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s, bufio.NewReader(out)
}

// wait checks a clean exit within a minute.
func (s *server) wait(t *testing.T, what string) {
	t.Helper()
	select {
	case <-s.done:
		if s.err != nil {
			t.Errorf("%s: %v\n%s", what, s.err, s.stderr.String())
		}
	case <-time.After(time.Minute):
		t.Errorf("%s: still running a minute after its shutdown", what)
	}
	if strings.Contains(s.stderr.String(), "epollbox: ") {
		t.Errorf("%s: epollbox complained:\n%s", what, s.stderr.String())
	}
	if len(s.cmd.Args) > 1 && s.cmd.Args[1] == "-stats" {
		t.Logf("%s under epollbox:\n%s", what, s.stderr.String())
	}
}

// waitPort waits until addr accepts connections.
func waitPort(t *testing.T, addr string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if exec.Command("bash", "-c", "exec 3<>/dev/tcp/"+strings.Replace(addr, ":", "/", 1)).Run() == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never accepted a connection", addr)
}

var wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// runWrk drives url for a few seconds and returns requests per second; any
// socket error or non-2xx answer fails the test.
func runWrk(t *testing.T, url string) float64 {
	t.Helper()
	out, err := exec.Command("wrk", "-t1", "-c10", "-d3s", url).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	s := string(out)
	if strings.Contains(s, "Socket errors") || strings.Contains(s, "Non-2xx") {
		t.Errorf("wrk saw errors:\n%s", s)
	}
	m := wrkRPS.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no rate in wrk's output:\n%s", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

var benchRPS = regexp.MustCompile(`(SET|GET): ([0-9.]+) requests per second`)

func TestRealPrograms(t *testing.T) {
	ensurePrograms(t)
	dir := t.TempDir()
	epollbox := filepath.Join(dir, "epollbox")
	httpserver := filepath.Join(dir, "httpserver")
	for _, b := range [][]string{{epollbox, "."}, {httpserver, "./testdata/httpserver"}} {
		if out, err := exec.Command("go", "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	type result struct{ name, native, boxed, perCall string }
	var results []result
	rate := map[bool]string{}
	var perCall string // the boxed run's mean service times (-stats)

	for _, boxed := range []bool{false, true} {
		s, out := start(t, boxed, epollbox, httpserver)
		line, err := out.ReadString('\n')
		if err != nil {
			t.Fatalf("httpserver: %v\n%s", err, s.stderr.String())
		}
		addr := strings.TrimSpace(line)
		rate[boxed] = fmt.Sprintf("%.0f", runWrk(t, "http://"+addr+"/"))
		s.cmd.Process.Signal(syscall.SIGTERM) // epollbox forwards it
		s.wait(t, "httpserver")
		if boxed {
			perCall = callTimes(s.stderr.String())
		}
	}
	results = append(results, result{"Go net/http, wrk c=10", rate[false], rate[true], perCall})

	for _, boxed := range []bool{false, true} {
		port := "16379"
		s, _ := start(t, boxed, epollbox, "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
		waitPort(t, "127.0.0.1:"+port)
		out, err := exec.Command("redis-benchmark", "-p", port, "-t", "set,get", "-n", "20000", "-q").CombinedOutput()
		if err != nil || strings.Contains(strings.ToLower(string(out)), "error") {
			t.Errorf("redis-benchmark: %v\n%s", err, out)
		}
		var rs []string
		for _, m := range benchRPS.FindAllStringSubmatch(string(out), -1) {
			rs = append(rs, m[1]+" "+m[2])
		}
		rate[boxed] = strings.Join(rs, ", ")
		if out, err := exec.Command("redis-cli", "-p", port, "shutdown", "nosave").CombinedOutput(); err != nil && len(out) > 0 {
			t.Logf("redis-cli shutdown: %v %s", err, out)
		}
		s.wait(t, "redis-server")
		if boxed {
			perCall = callTimes(s.stderr.String())
		}
	}
	results = append(results, result{"redis SET/GET, redis-benchmark c=50", rate[false], rate[true], perCall})

	for _, boxed := range []bool{false, true} {
		// nginx's workers run as another user: they must be able to
		// reach the files.
		os.Chmod(dir, 0o755)
		os.Chmod(filepath.Dir(dir), 0o755)
		nd := filepath.Join(dir, "nginx")
		os.MkdirAll(filepath.Join(nd, "html"), 0o755)
		os.MkdirAll(filepath.Join(nd, "tmp"), 0o755)
		os.WriteFile(filepath.Join(nd, "html", "index.html"), []byte("hello\n"), 0o644)
		conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 2;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp;
  proxy_temp_path %[1]s/tmp;
  fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp;
  scgi_temp_path %[1]s/tmp;
  server { listen 127.0.0.1:18080; root %[1]s/html; }
}
`, nd)
		os.WriteFile(filepath.Join(nd, "nginx.conf"), []byte(conf), 0o644)
		s, _ := start(t, boxed, epollbox, "nginx", "-c", filepath.Join(nd, "nginx.conf"), "-p", nd)
		waitPort(t, "127.0.0.1:18080")
		rate[boxed] = fmt.Sprintf("%.0f", runWrk(t, "http://127.0.0.1:18080/"))
		s.cmd.Process.Signal(syscall.SIGQUIT) // graceful: epollbox forwards it to the master
		s.wait(t, "nginx")
		if boxed {
			perCall = callTimes(s.stderr.String())
		}
		if out, err := exec.Command("pgrep", "-f", filepath.Join(nd, "nginx.conf")).Output(); err == nil && len(out) > 0 {
			t.Errorf("nginx processes left: %s", out)
		}
	}
	results = append(results, result{"nginx (2 workers), wrk c=10", rate[false], rate[true], perCall})

	fmt.Printf("\n%-40s %24s %24s   %s\n", "program", "native req/s", "epollbox req/s", "epollbox mean service time per call")
	for _, r := range results {
		fmt.Printf("%-40s %24s %24s   %s\n", r.name, r.native, r.boxed, r.perCall)
	}
	fmt.Printf("\nper trapped call (seccompbox BenchmarkOverhead, this run): %s\n", overheadFigures(t))
}

// overheadFigures runs seccompbox's BenchmarkOverhead and summarizes what a
// trapped call costs under the box: the bare seccomp round trip, epoll_ctl
// (MOD) and epoll_wait with a zero timeout (with their ratio to the round
// trip), and the box's own system calls timed beside them.
func overheadFigures(t *testing.T) string {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^BenchmarkOverhead$", "-benchtime", "20000x", "./seccompbox")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("BenchmarkOverhead: %v\n%s", err, out)
		return "-"
	}
	m := map[string]float64{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 2 && strings.HasPrefix(f[0], "BenchmarkOverhead") {
			for i := 2; i+1 < len(f); i += 2 {
				if v, err := strconv.ParseFloat(f[i], 64); err == nil {
					m[f[i+1]] = v
				}
			}
		}
	}
	us := func(k string) string { return fmt.Sprintf("%.2f µs", m[k]/1000) }
	return fmt.Sprintf("bare round trip %s; epoll_ctl MOD %s (%.2fx); epoll_wait(0) %s (%.2fx); "+
		"kcmp %s, process_vm_readv %s, harvest %s, re-poll %s",
		us("boxed-bare-ns"), us("boxed-ctl-ns"), m["boxed-ctl-x"], us("boxed-wait0-ns"), m["boxed-wait0-x"],
		us("sys-kcmp-ns"), us("sys-readv-ns"), us("sys-harvest-ns"), us("sys-repoll-ns"))
}

// statLine is one line of epollbox -stats: the call, its count, mean and
// longest service time.
var statLine = regexp.MustCompile(`^\s*(epoll_ctl|epoll_wait|epoll_pwait|epoll_pwait2|waits served inline|rt_sigreturn|poll/select \(synced\))\s+(\d+)\s+(\S+)\s`)

// callTimes summarizes epollbox -stats output: the mean service time of
// each trapped call made, with its count (a blocking wait's includes the
// time it blocked; "waits served inline", those of every kind the box
// answered without a hand-off to a worker, is what it adds to a wait that
// does not sleep).
func callTimes(stats string) string {
	var parts []string
	for _, line := range strings.Split(stats, "\n") {
		m := statLine.FindStringSubmatch(line)
		if m == nil || m[2] == "0" {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", m[1], m[3], m[2]))
	}
	return strings.Join(parts, ", ")
}
