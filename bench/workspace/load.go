package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// request is one request of a scenario; i counts requests from 0.
type request func(i int) (method, url string, body []byte)

// result is what a scenario measured.
type result struct {
	name     string
	n, errs  int
	elapsed  time.Duration
	p50, p99 time.Duration
	max      time.Duration
	coldMax  time.Duration // lists: the slowest first request of a filter value
	steal    float64       // share of the machine's CPU time the hypervisor took meanwhile, in %
	firstErr string
}

func (r result) rps() float64 { return float64(r.n) / r.elapsed.Seconds() }

// client is one keep-alive connection per worker, no compression, as a
// load generator on loopback should be.
func newHTTPClient(conc int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}}
}

// drive sends at most max requests from conc workers, or as many as fit in
// limit, and records each one's latency. Requests are closed-loop: a worker
// sends its next request when the last one is answered.
func drive(name string, hc *http.Client, token string, conc, max int, limit time.Duration, req request) result {
	var next atomic.Int64
	lats := make([][]time.Duration, conc)
	var errs atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(limit)
	cpu0 := cpuTimes()
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= max || time.Now().After(deadline) {
					return
				}
				method, url, body := req(i)
				t0 := time.Now()
				err := do(hc, token, method, url, body)
				lats[w] = append(lats[w], time.Since(t0))
				if err != nil {
					if errs.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lats...)
	slices.Sort(all)
	r := result{name: name, n: len(all), errs: int(errs.Load()), elapsed: elapsed, steal: stealPercent(cpu0, cpuTimes())}
	if len(all) > 0 {
		r.p50, r.p99, r.max = all[len(all)/2], all[len(all)*99/100], all[len(all)-1]
	}
	if s, ok := firstErr.Load().(string); ok {
		r.firstErr = s
	}
	return r
}

func do(hc *http.Client, token, method, url string, body []byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, data)
	}
	// Read to the end without keeping it: a page of 50 runs is about
	// 75 KB, and the load generator has a core of its own to keep free.
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

// cpuTimes is the machine's CPU time so far by kind, in ticks, from the
// "cpu" line of /proc/stat (user, nice, system, idle, iowait, irq,
// softirq, steal, ...); nil where there is none.
func cpuTimes() []uint64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nil
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 9 || fields[0] != "cpu" {
		return nil
	}
	var ts []uint64
	for _, f := range fields[1:9] {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil
		}
		ts = append(ts, v)
	}
	return ts
}

// stealPercent is the share of the CPU time between two cpuTimes that the
// hypervisor gave to other machines: time this machine's load waited for
// no work of its own, which no build can do anything about.
func stealPercent(before, after []uint64) float64 {
	if len(before) != 8 || len(after) != 8 {
		return 0
	}
	var total uint64
	for i := range after {
		total += after[i] - before[i]
	}
	if total == 0 {
		return 0
	}
	return 100 * float64(after[7]-before[7]) / float64(total)
}
