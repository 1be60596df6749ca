package bundle

import (
	"fmt"
	"syscall"
)

// checkFreeDisk fails early, before anything is written, when dir cannot
// hold need more bytes: running out half-way through a large bundle wastes
// the download and leaves the user guessing.
func checkFreeDisk(dir string, need int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("checking free disk in %s: %w", dir, err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free < need {
		return fmt.Errorf("not enough free disk in %s: need %s, %s free", dir, humanBytes(need), humanBytes(free))
	}
	return nil
}
