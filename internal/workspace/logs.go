package workspace

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/enclave-mlops/enclave/internal/errs"
)

// logFiles keeps the logs of runs and steps as files under
// ENCLAVE_DATA_DIR/logs/<run id>/<step id or "run">.log. Ids are checked to
// be UUIDs before they reach a path. Replicas of a server must share the
// data directory.
type logFiles struct {
	dir string
	mu  sync.Mutex
}

// maxLogRead is the most of a log one answer carries: its tail.
const maxLogRead = 16 << 20

func (l *logFiles) path(runID, stepID string) (string, error) {
	if !validID(runID) || (stepID != "" && !validID(stepID)) {
		return "", errs.E(errs.Invalid, "bad log id")
	}
	name := "run"
	if stepID != "" {
		name = strings.ToLower(stepID)
	}
	return filepath.Join(l.dir, strings.ToLower(runID), name+".log"), nil
}

func (l *logFiles) append(runID, stepID, content string) error {
	if content == "" {
		return nil
	}
	p, err := l.path(runID, stepID)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// read returns the log, or its last maxLogRead bytes; "" when none was kept.
func (l *logFiles) read(runID, stepID string) (string, error) {
	p, err := l.path(runID, stepID)
	if err != nil {
		return "", err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if st.Size() > maxLogRead {
		if _, err := f.Seek(st.Size()-maxLogRead, io.SeekStart); err != nil {
			return "", err
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxLogRead))
	return string(b), err
}

// remove deletes the logs of a deleted run.
func (l *logFiles) remove(runID string) {
	if !validID(runID) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = os.RemoveAll(filepath.Join(l.dir, strings.ToLower(runID)))
}
