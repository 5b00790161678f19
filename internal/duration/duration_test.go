package duration

import (
	"testing"
	"time"
)

func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"0", 0, "0s"},
		{"20s", 20 * time.Second, "20s"},
		{"10m", 10 * time.Minute, "10m"},
		{"90m", 90 * time.Minute, "1h30m"},
		{"12h", 12 * time.Hour, "12h"},
		{"14d", 14 * 24 * time.Hour, "14d"},
		{"1d12h", 36 * time.Hour, "1d12h"},
		{"1h0m5s", time.Hour + 5*time.Second, "1h0m5s"},
		{"500ms", 500 * time.Millisecond, "500ms"},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if out := Format(tc.want); out != tc.out {
			t.Errorf("Format(%v) = %q, want %q", tc.want, out, tc.out)
		}
	}
	for _, bad := range []string{"", "soon", "-1h", "d", "1x", "1d-2h"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): got nil error", bad)
		}
	}
}
