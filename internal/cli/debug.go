package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime/debug"

	"github.com/enclave-mlops/enclave/internal/httpapi"
)

// debugListenHelp is the help text of --debug-listen.
const debugListenHelp = "address to serve Go's profiles (/debug/pprof/) on, off by default (ENCLAVE_DEBUG_LISTEN); keep it on loopback"

// serveDebug serves the runtime's profiles on addr (or ENCLAVE_DEBUG_LISTEN
// when addr is empty) until ctx ends. It is off when both are empty. The
// profiles are on a listener of their own so that they are never reachable
// through the API's address.
func serveDebug(ctx context.Context, log *slog.Logger, addr string) error {
	if addr == "" {
		addr = os.Getenv("ENCLAVE_DEBUG_LISTEN")
	}
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("debug listener on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		if err := httpapi.Serve(ctx, ln, mux, log); err != nil {
			log.Error("debug listener stopped", "err", err)
		}
	}()
	log.Info("serving profiles", "addr", ln.Addr().String())
	return nil
}

// Garbage collection of the servers, unless GOGC or GOMEMLIMIT say
// otherwise. A server's live heap is small (a few MiB) and each request
// allocates much of that again, so at Go's default (collect when the heap
// has doubled) it collects dozens of times a second under load; with one
// core, each collection holds the requests back. Collecting when the heap
// has grown fivefold cuts that to a fifth for some tens of MiB; the soft
// limit (of the Go runtime's memory; SQLite's page caches come on top)
// makes collections more frequent again as the heap nears it, so that the
// process stays under 100 MiB under load.
const (
	serverGCPercent   = 400
	serverMemoryLimit = 56 << 20
)

// tuneGC applies the servers' collection settings where the environment
// sets none.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serverMemoryLimit)
	}
}
