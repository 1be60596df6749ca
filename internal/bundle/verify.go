package bundle

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// VerifyOptions control Verify.
type VerifyOptions struct {
	// Aggregate, when set, is the expected sha256 over the whole bundle as
	// printed by create (from a channel the bundle did not travel through).
	Aggregate string
	Progress  *Progress
}

// Verify reads every byte of a bundle and refuses it if any file or blob is
// missing, extra, truncated or altered, naming it. When the sidecar
// FILE.sha256 written by create is present, the physical files are checked
// against it too.
func Verify(ctx context.Context, path string, opts VerifyOptions) (*Bundle, error) {
	b, err := Open(path)
	if err != nil {
		return nil, err
	}
	if err := b.verifyContents(ctx, opts); err != nil {
		b.Close()
		return nil, err
	}
	// After the contents, so that a changed file inside is named rather
	// than only the part holding it.
	if err := checkSidecar(path); err != nil {
		b.Close()
		return nil, err
	}
	if want := strings.TrimPrefix(opts.Aggregate, "sha256:"); want != "" && want != b.Aggregate {
		b.Close()
		return nil, fmt.Errorf("bundle checksum is sha256:%s, expected sha256:%s", b.Aggregate, want)
	}
	return b, nil
}

func (b *Bundle) verifyContents(ctx context.Context, opts VerifyOptions) error {
	var total int64
	for _, e := range b.arc.entries {
		total += e.Size
	}
	opts.Progress.begin("verifying", len(b.arc.entries), total)
	defer opts.Progress.end()
	seen := map[string]bool{}
	err := b.arc.walk(func(name string, size int64, r io.Reader) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e, ok := b.arc.entries[name]; !ok || e.Size != size {
			return fmt.Errorf("bundle entry %q: not where the bundle's index says", name)
		}
		h := sha256.New()
		if _, err := io.Copy(h, progressReader{r, opts.Progress}); err != nil {
			return err
		}
		got := hex.EncodeToString(h.Sum(nil))
		seen[name] = true
		opts.Progress.item(name)
		if name == checksumsName {
			if got != b.Aggregate {
				return fmt.Errorf("bundle entry %q: differs from the copy the index points at", name)
			}
			return nil
		}
		if got != b.sums[name] {
			return fmt.Errorf("bundle entry %q: altered (sha256 %s, %s says %s)", name, got, checksumsName, b.sums[name])
		}
		if hexName, ok := strings.CutPrefix(name, blobPrefix); ok && hexName != got {
			return fmt.Errorf("bundle entry %q: content does not match its digest", name)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for n := range b.arc.entries {
		if !seen[n] {
			return fmt.Errorf("bundle entry %q: missing from the tar stream", n)
		}
	}
	return nil
}

func sidecarName(base string) string { return base + ".sha256" }

// writeSidecar writes FILE.sha256 in sha256sum's format, one line per
// physical file, so the transfer can be checked with standard tools too.
func writeSidecar(base string, files, sums []string) error {
	var sb strings.Builder
	for i, f := range files {
		fmt.Fprintf(&sb, "%s  %s\n", sums[i], filepath.Base(f))
	}
	tmp := sidecarName(base) + ".tmp"
	if err := os.WriteFile(tmp, []byte(sb.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, sidecarName(base))
}

// checkSidecar checks each part against FILE.sha256 when it exists, so a
// truncated or swapped part is named even if the tar stream still parses.
func checkSidecar(path string) error {
	base, parts, err := findParts(path)
	if err != nil {
		return err
	}
	f, err := os.Open(sidecarName(base))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	listed := map[string]bool{}
	dir := filepath.Dir(base)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || !isHex64(sum) || name != filepath.Base(name) || name == "." || name == ".." {
			return fmt.Errorf("%s: malformed line %q", sidecarName(base), sc.Text())
		}
		listed[name] = true
		p := filepath.Join(dir, name)
		pf, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("bundle part %s: %w", p, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, pf)
		pf.Close()
		if err != nil {
			return fmt.Errorf("bundle part %s: %w", p, err)
		}
		if hex.EncodeToString(h.Sum(nil)) != sum {
			return fmt.Errorf("bundle part %s: truncated or altered (sha256 does not match %s)", p, sidecarName(base))
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, p := range parts {
		if !listed[filepath.Base(p)] {
			return fmt.Errorf("bundle part %s: not listed in %s", p, sidecarName(base))
		}
	}
	return nil
}
