package bundle

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress shows a long transfer: on a terminal one bar redrawn in place, on
// anything else (logs, CI) one plain line per finished item. A nil *Progress
// is silent.
type Progress struct {
	out      io.Writer
	terminal bool

	mu        sync.Mutex
	verb      string
	total     int64
	done      int64
	items     int
	itemsDone int
	drawn     time.Time
}

// NewProgress writes to out; terminal chooses the redrawn bar.
func NewProgress(out io.Writer, terminal bool) *Progress {
	return &Progress{out: out, terminal: terminal}
}

func (p *Progress) begin(verb string, items int, total int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.verb, p.items, p.total, p.done, p.itemsDone = verb, items, total, 0, 0
	if !p.terminal {
		fmt.Fprintf(p.out, "%s: %d items, %s\n", verb, items, humanBytes(total))
	}
}

func (p *Progress) add(n int64) {
	if p == nil || n == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if p.terminal && time.Since(p.drawn) > 100*time.Millisecond {
		p.draw()
	}
}

// item marks one item finished; msg is what the plain output says about it.
func (p *Progress) item(msg string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.itemsDone++
	if p.terminal {
		p.draw()
		return
	}
	fmt.Fprintf(p.out, "[%d/%d] %s\n", p.itemsDone, p.items, msg)
}

func (p *Progress) end() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal {
		p.draw()
		fmt.Fprintln(p.out)
	}
}

func (p *Progress) draw() {
	p.drawn = time.Now()
	const width = 30
	frac := 1.0
	if p.total > 0 {
		frac = min(float64(p.done)/float64(p.total), 1)
	}
	fill := int(frac * width)
	fmt.Fprintf(p.out, "\r%s [%s%s] %3.0f%% %s/%s %d/%d\x1b[K", p.verb, strings.Repeat("=", fill),
		strings.Repeat(" ", width-fill), frac*100, humanBytes(p.done), humanBytes(p.total), p.itemsDone, p.items)
}

// progressReader counts bytes read into a Progress.
type progressReader struct {
	r io.Reader
	p *Progress
}

func (r progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.add(int64(n))
	return n, err
}
