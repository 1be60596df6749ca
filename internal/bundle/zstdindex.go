package bundle

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// frameEntry locates one tar entry of a compressed bundle: the zstd frame
// starting at compressed offset Frame begins with the entry's header at
// uncompressed offset Header; its data starts at uncompressed offset Data.
type frameEntry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Frame  int64  `json:"frame"`
	Header int64  `json:"header"`
	Data   int64  `json:"data"`
}

const (
	zstdMagic          = 0xFD2FB528
	skippableMagic     = 0x184D2A5E // user-chosen id 0xE of the 0x184D2A5? range
	frameIndexMagic    = "EBIX"
	maxFrameIndexBytes = 64 << 20
)

// encodeFrameIndex packs the index into a zstd skippable frame that ends with
// its own length and a magic word, so a reader finds it from the end.
func encodeFrameIndex(entries []frameEntry) ([]byte, error) {
	js, err := json.Marshal(entries)
	if err != nil {
		return nil, err
	}
	payload := len(js) + 8
	out := make([]byte, 8, 8+payload)
	binary.LittleEndian.PutUint32(out[0:], skippableMagic)
	binary.LittleEndian.PutUint32(out[4:], uint32(payload))
	out = append(out, js...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(js)))
	return append(out, frameIndexMagic...), nil
}

// readFrameIndex reads and checks the index at the end of a compressed
// bundle. The index is untrusted: offsets must increase and stay inside the
// file, and names obey the same rules as tar entries.
func readFrameIndex(ra io.ReaderAt, size int64) ([]frameEntry, int64, error) {
	var tail [8]byte
	if size < 16 {
		return nil, 0, errors.New("compressed bundle too short")
	}
	if _, err := ra.ReadAt(tail[:], size-8); err != nil {
		return nil, 0, err
	}
	if string(tail[4:]) != frameIndexMagic {
		return nil, 0, errors.New("compressed bundle has no frame index at its end (truncated, or not made by enclave)")
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	start := size - 8 - n - 8
	if n > maxFrameIndexBytes || start < 0 {
		return nil, 0, errors.New("compressed bundle: frame index length out of range")
	}
	buf := make([]byte, n+8)
	if _, err := ra.ReadAt(buf, start); err != nil {
		return nil, 0, err
	}
	if binary.LittleEndian.Uint32(buf[0:]) != skippableMagic || int64(binary.LittleEndian.Uint32(buf[4:])) != n+8 {
		return nil, 0, errors.New("compressed bundle: malformed frame index header")
	}
	var entries []frameEntry
	if err := json.Unmarshal(buf[8:], &entries); err != nil {
		return nil, 0, fmt.Errorf("compressed bundle: frame index: %w", err)
	}
	var lastFrame, lastData int64 = -1, -1
	seen := map[string]bool{}
	for _, e := range entries {
		if err := checkName(e.Name); err != nil {
			return nil, 0, err
		}
		if seen[e.Name] {
			return nil, 0, fmt.Errorf("compressed bundle: %s listed twice in frame index", e.Name)
		}
		seen[e.Name] = true
		if e.Frame <= lastFrame || e.Frame >= start || e.Header <= lastData || e.Data < e.Header ||
			e.Data-e.Header > 1<<20 || e.Size < 0 || e.Size > maxEntrySize(e.Name) {
			return nil, 0, fmt.Errorf("compressed bundle: frame index entry for %s out of range", e.Name)
		}
		lastFrame, lastData = e.Frame, e.Data
	}
	return entries, start, nil
}
