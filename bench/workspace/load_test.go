package main

import "testing"

func TestStealPercent(t *testing.T) {
	before := []uint64{100, 0, 50, 800, 10, 0, 5, 35}
	after := []uint64{160, 0, 70, 900, 10, 0, 5, 55} // 200 ticks, 20 stolen
	if got := stealPercent(before, after); got != 10 {
		t.Errorf("steal = %v%%, want 10%%", got)
	}
	if got := stealPercent(nil, after); got != 0 {
		t.Errorf("steal without a first reading = %v, want 0", got)
	}
	if got := stealPercent(after, after); got != 0 {
		t.Errorf("steal over no time = %v, want 0", got)
	}
	if ts := cpuTimes(); ts != nil && len(ts) != 8 {
		t.Errorf("cpuTimes: %d kinds, want 8", len(ts))
	}
}
