package bundle

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// journal records what a push has finished, one JSON line per step, written
// as soon as the step is done. A push killed at any point leaves a journal
// the next run reads to skip finished blobs and continue a half-sent blob
// from the last chunk the registry acknowledged. A torn last line, from a
// kill during the write, is ignored.
type journal struct {
	path string
	mu   sync.Mutex
	f    *os.File
	// blobs[repo][digest] is true once the blob is in repo.
	blobs map[string]map[string]bool
	// partial[repo+"@"+digest] is the last acknowledged state of an upload.
	partial map[string]journalRec
}

type journalRec struct {
	Op       string `json:"op"` // header, blob, chunk
	Bundle   string `json:"bundle,omitempty"`
	Registry string `json:"registry,omitempty"`
	Repo     string `json:"repo,omitempty"`
	Digest   string `json:"digest,omitempty"`
	Location string `json:"location,omitempty"`
	Offset   int64  `json:"offset,omitempty"`
}

// openJournal loads the journal at path if it belongs to the same bundle and
// destination, else starts a new one.
func openJournal(path, bundle, registry string) (*journal, error) {
	j := &journal{path: path, blobs: map[string]map[string]bool{}, partial: map[string]journalRec{}}
	keep := false
	f, err := os.Open(path)
	switch {
	case err == nil:
		keep = j.load(f, bundle, registry)
		f.Close()
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if !keep {
		flags |= os.O_TRUNC
		j.blobs, j.partial = map[string]map[string]bool{}, map[string]journalRec{}
	}
	if j.f, err = os.OpenFile(path, flags, 0o600); err != nil {
		return nil, fmt.Errorf("push journal: %w", err)
	}
	if !keep {
		if err := j.write(journalRec{Op: "header", Bundle: bundle, Registry: registry}); err != nil {
			j.f.Close()
			return nil, err
		}
	}
	return j, nil
}

func (j *journal) load(f *os.File, bundle, registry string) bool {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	for sc.Scan() {
		var r journalRec
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		if first {
			if r.Op != "header" || r.Bundle != bundle || r.Registry != registry {
				return false
			}
			first = false
			continue
		}
		switch r.Op {
		case "blob":
			j.markBlob(r.Repo, r.Digest)
			delete(j.partial, r.Repo+"@"+r.Digest)
		case "chunk":
			j.partial[r.Repo+"@"+r.Digest] = r
		}
	}
	return !first
}

func (j *journal) markBlob(repo, digest string) {
	if j.blobs[repo] == nil {
		j.blobs[repo] = map[string]bool{}
	}
	j.blobs[repo][digest] = true
}

func (j *journal) write(r journalRec) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = j.f.Write(append(b, '\n'))
	return err
}

func (j *journal) blobDone(repo, digest string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.markBlob(repo, digest)
	delete(j.partial, repo+"@"+digest)
	return j.write(journalRec{Op: "blob", Repo: repo, Digest: digest})
}

func (j *journal) chunkDone(repo, digest, loc string, offset int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	r := journalRec{Op: "chunk", Repo: repo, Digest: digest, Location: loc, Offset: offset}
	j.partial[repo+"@"+digest] = r
	return j.write(r)
}

func (j *journal) hasBlob(repo, digest string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.blobs[repo][digest]
}

// holder returns a repository the journal says holds digest, for a mount.
func (j *journal) holder(digest string) string {
	j.mu.Lock()
	defer j.mu.Unlock()
	for repo, m := range j.blobs {
		if m[digest] {
			return repo
		}
	}
	return ""
}

func (j *journal) partialUpload(repo, digest string) (journalRec, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.partial[repo+"@"+digest]
	return r, ok
}

func (j *journal) close() error { return j.f.Close() }

// remove deletes the journal once the push is complete.
func (j *journal) remove() error {
	j.f.Close()
	return os.Remove(j.path)
}
