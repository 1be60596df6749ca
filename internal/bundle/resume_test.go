package bundle

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/enclave-mlops/enclave/internal/registrytest"
)

const childEnv = "ENCLAVE_BUNDLE_PUSH_CHILD"

// TestPushChild is not a test of its own: TestPushResumesAfterKill runs the
// test binary again with childEnv set, and this push kills its own process
// with SIGKILL in the middle of a blob, as a power cut or an OOM kill would.
func TestPushChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("helper process for TestPushResumesAfterKill")
	}
	var opts PushOptions
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &opts); err != nil {
		t.Fatal(err)
	}
	opts.Jobs = 1
	blobs := 0
	opts.hook = func(op, repo, digest string) {
		switch op {
		case "blob":
			blobs++
		case "chunk":
			if blobs > 0 {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	_, err := Push(context.Background(), os.Getenv(childEnv+"_BUNDLE"), opts)
	t.Fatalf("push was meant to be killed, returned %v", err)
}

func TestPushResumesAfterKill(t *testing.T) {
	dst := registrytest.New(t, registrytest.Options{TLS: true, Username: "ci", Password: "pw"})
	f := newFixture(t, 2<<20)
	dir := t.TempDir()
	out := filepath.Join(dir, "b.tar")
	layoutBundle(t, f, out, CreateOptions{})
	opts := PushOptions{
		Mapping:   Mapping{Registry: dst.Host + "/proj"},
		Registry:  RegistryOptions{CAFile: dst.CAFile, Username: dst.Username, Password: dst.Password},
		ChunkSize: 128 << 10,
		Journal:   filepath.Join(dir, "push.journal"),
	}
	js, _ := json.Marshal(opts)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPushChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+string(js), childEnv+"_BUNDLE="+out)
	outb, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child push was not killed: %v\n%s", err, outb)
	}

	// What the killed run finished, by its journal.
	b, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	sizes := map[string]int64{}
	for n, e := range b.arc.entries {
		if hexd, ok := strings.CutPrefix(n, blobPrefix); ok {
			if _, isManifest := b.manifests[mustHash(t, "sha256:"+hexd)]; !isManifest {
				sizes["sha256:"+hexd] = e.Size
				total += e.Size
			}
		}
	}
	b.Close()
	doneBlobs, partial := readJournal(t, opts.Journal)
	var done int64
	for d := range doneBlobs {
		done += sizes[d]
	}
	if len(doneBlobs) == 0 || len(partial) != 1 {
		t.Fatalf("killed run left %d finished blobs and %d partial uploads; want some and one", len(doneBlobs), len(partial))
	}
	for _, off := range partial {
		done += off
	}
	// Nothing was tagged: a killed push leaves no tag pointing at a half.
	auth := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: dst.Username, Password: dst.Password}))
	for ref := range f.images {
		r, _ := name.ParseReference(dst.Host + "/proj/" + ref)
		if _, err := remote.Head(r, remote.WithTransport(dst.Transport()), auth); err == nil {
			t.Fatalf("%s tagged by the killed push", ref)
		}
	}

	res, err := Push(context.Background(), out, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsResumed != 1 {
		t.Errorf("resumed %d uploads, want 1", res.BlobsResumed)
	}
	if res.BytesUploaded != total-done {
		t.Errorf("second run uploaded %d bytes; %d total, %d done before the kill, so want %d", res.BytesUploaded, total, done, total-done)
	}
	for _, it := range res.Items {
		r, _ := name.ParseReference(it.Destination)
		d, err := remote.Head(r, remote.WithTransport(dst.Transport()), auth)
		if err != nil || d.Digest.String() != it.Digest {
			t.Errorf("%s: %v %v, want %s", it.Destination, d, err, it.Digest)
		}
	}
	if _, err := os.Stat(opts.Journal); !os.IsNotExist(err) {
		t.Errorf("journal left after a complete push: %v", err)
	}
}

func readJournal(t *testing.T, path string) (done map[string]bool, partial map[string]int64) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	done, partial = map[string]bool{}, map[string]int64{}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var r journalRec
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		switch r.Op {
		case "blob":
			done[r.Digest] = true
			delete(partial, r.Digest)
		case "chunk":
			partial[r.Digest] = r.Offset
		}
	}
	return done, partial
}

func TestPreflightStopsBeforeUploading(t *testing.T) {
	dst := registrytest.New(t, registrytest.Options{TLS: true, Username: "ci", Password: "pw"})
	f := newFixture(t, 256<<10)
	out := filepath.Join(t.TempDir(), "b.tar")
	layoutBundle(t, f, out, CreateOptions{})
	for _, tc := range []struct {
		name string
		reg  RegistryOptions
		want string
	}{
		{"untrusted CA", RegistryOptions{Username: "ci", Password: "pw"}, "--ca-file"},
		{"wrong password", RegistryOptions{CAFile: dst.CAFile, Username: "ci", Password: "nope"}, "credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Push(context.Background(), out, PushOptions{Mapping: Mapping{Registry: dst.Host + "/proj"}, Registry: tc.reg})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "preflight") {
				t.Fatalf("error %v, want a preflight error mentioning %q", err, tc.want)
			}
		})
	}
	// Nothing reached the registry's storage.
	if ents, err := os.ReadDir(filepath.Join(dst.Dir, "storage", "docker", "registry", "v2", "blobs")); err == nil && len(ents) > 0 {
		t.Fatalf("blobs stored despite failed preflight: %v", ents)
	}
}
