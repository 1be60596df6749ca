package cli

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true},
		{"1234", 1234, true},
		{"700K", 700 << 10, true},
		{"700M", 700 << 20, true},
		{"4G", 4 << 30, true},
		{"4GiB", 4 << 30, true},
		{"4gb", 4 << 30, true},
		{"0", 0, false},
		{"-1M", 0, false},
		{"big", 0, false},
	} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d (ok=%v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
