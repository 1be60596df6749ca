package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// server is an `enclave workspace` process pinned to one core.
type server struct {
	cmd  *exec.Cmd
	addr string
	log  *os.File
}

// startServer runs the enclave binary on storeURL, pinned to cpu with
// taskset, and waits for its health probe.
func startServer(bin, storeURL, dataDir, cpu string, extraEnv ...string) *server {
	addr := freeAddr()
	lf, err := os.Create(dataDir + "/server.log")
	check(err)
	cmd := exec.Command("taskset", "-c", cpu, bin, "workspace", "--listen", addr, "--database", storeURL)
	cmd.Env = append(os.Environ(),
		"ENCLAVE_DATA_DIR="+dataDir,
		"ZENML_DEFAULT_USER_NAME=admin",
		"ZENML_DEFAULT_USER_PASSWORD="+adminPassword,
		"ZENML_STORE_BACKUP_STRATEGY=disabled",
		"ZENML_SERVER_JWT_SECRET_KEY=bench-secret-key-bench-secret-key-0123456789",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdout, cmd.Stderr = lf, lf
	check(cmd.Start())
	s := &server{cmd: cmd, addr: addr, log: lf}
	cleanups = append(cleanups, s.stop)
	waitHealthy("http://"+addr+"/health", 120*time.Second)
	return s
}

func (s *server) url() string { return "http://" + s.addr }

func (s *server) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.log.Close()
}

// poolSize is the store pool's size the server logged at start, or "?".
func (s *server) poolSize() string {
	b, err := os.ReadFile(s.log.Name())
	if err != nil {
		return "?"
	}
	m := regexp.MustCompile(`"?max_open"?[=:](\d+)`).FindSubmatch(b)
	if m == nil {
		return "?"
	}
	return string(m[1])
}

// pid is the server's own process: taskset execs it, so the pid is the same.
func (s *server) pid() int { return s.cmd.Process.Pid }

// startBare runs this program as the bare net/http handler serving doc,
// pinned to cpu: the ceiling the server is compared with, on the same core
// and under the same load generator.
func startBare(cpu string, doc []byte, dir string) *server {
	path := dir + "/run.json"
	check(os.WriteFile(path, doc, 0o600))
	self, err := os.Executable()
	check(err)
	addr := freeAddr()
	lf, err := os.Create(dir + "/bare.log")
	check(err)
	cmd := exec.Command("taskset", "-c", cpu, self, "-bare", path, "-bare-listen", addr)
	cmd.Stdout, cmd.Stderr = lf, lf
	check(cmd.Start())
	s := &server{cmd: cmd, addr: addr, log: lf}
	cleanups = append(cleanups, s.stop)
	waitHealthy("http://"+addr+"/health", 30*time.Second)
	return s
}

// serveBare is the bare handler: the same bytes and content type for every
// request, nothing else.
func serveBare(path, addr string) {
	doc, err := os.ReadFile(path)
	check(err)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {})
	mux.HandleFunc("GET /api/v1/runs/{id}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	check(srv.ListenAndServe())
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer ln.Close()
	return ln.Addr().String()
}

func waitHealthy(url string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	fatalf("%s did not answer within %s", url, limit)
}

// rssKiB reads VmRSS of pid from /proc.
func rssKiB(pid int) int64 { return statusKiB(pid, "VmRSS") }

// statusKiB reads a field of pid's /proc status given in kB (VmRSS, and
// its parts RssAnon, RssFile and RssShmem), 0 if it cannot.
func statusKiB(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// rssParts is what the resident memory of pid is made of.
func rssParts(pid int) string {
	return fmt.Sprintf("anonymous %s, file %s, shared %s", mib(statusKiB(pid, "RssAnon")),
		mib(statusKiB(pid, "RssFile")), mib(statusKiB(pid, "RssShmem")))
}

// rssPeak samples the RSS of pid every 50 ms until stopped and returns the
// highest value seen.
type rssPeak struct {
	mu   sync.Mutex
	peak int64
	stop context.CancelFunc
	done chan struct{}
}

func watchRSS(pid int) *rssPeak {
	ctx, cancel := context.WithCancel(context.Background())
	p := &rssPeak{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if v := rssKiB(pid); v > 0 {
				p.mu.Lock()
				p.peak = max(p.peak, v)
				p.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *rssPeak) end() int64 {
	p.stop()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// profileServer records the server's CPU profile into file for up to limit,
// or until the returned function is called.
func profileServer(debugAddr, file string, limit time.Duration) (stop func()) {
	secs := max(1, int(limit/time.Second))
	done := make(chan struct{})
	go func() {
		defer close(done)
		download(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", debugAddr, secs), file)
	}()
	return func() { <-done }
}

// saveHeap writes the server's heap profile (what is live, and what was
// allocated) into file: as pprof reads it, or with query "?debug=1" as
// text that ends with the runtime's memory statistics.
func saveHeap(debugAddr, query, file string) {
	download("http://"+debugAddr+"/debug/pprof/heap"+query, file)
}

// download writes what url answers into file, logging a failure.
func download(url, file string) {
	resp, err := http.Get(url)
	if err != nil {
		log.Printf("download %s: %v", url, err)
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		log.Printf("download %s: %v", url, err)
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, resp.Body)
}

// slug makes a file name of a scenario's name.
func slug(name string) string {
	b := []byte(strings.ToLower(name))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return string(b)
}

// warmFiles reads every regular file at or under paths once, so that the
// load finds them in the page cache. Missing paths are skipped.
func warmFiles(paths ...string) {
	start := time.Now()
	var n int64
	buf := make([]byte, 1<<20)
	for _, root := range paths {
		if root == "" {
			continue
		}
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			f, err := os.Open(path)
			if err != nil {
				return nil
			}
			defer f.Close()
			for {
				k, err := f.Read(buf)
				n += int64(k)
				if err != nil {
					return nil
				}
			}
		})
	}
	if n > 0 {
		log.Printf("read %.1f GiB of the store's files into the page cache in %s", float64(n)/(1<<30), time.Since(start).Round(100*time.Millisecond))
	}
}
