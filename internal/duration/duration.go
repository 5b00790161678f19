// Package duration parses durations as time.ParseDuration does, plus a
// "d" unit (24 h), since token lifetimes and grace periods are often days.
package duration

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Parse accepts Go durations ("90m", "1h30m") and days ("14d", "1d12h").
// A bare "0" is zero. Negative durations are refused.
func Parse(in string) (time.Duration, error) {
	s := strings.TrimSpace(in)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: use e.g. 30s, 15m, 12h or 14d", in)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: use e.g. 30s, 15m, 12h or 14d", in)
	}
	if d < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", in)
	}
	return days + d, nil
}

// Format renders d compactly: "14d", "1d12h", "12h", "1h30m", "20s".
func Format(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	const day = 24 * time.Hour
	if days := d / day; days > 0 {
		b.WriteString(strconv.FormatInt(int64(days), 10) + "d")
		d -= days * day
		if d == 0 {
			return b.String()
		}
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") { // "1h30m0s" → "1h30m"
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") { // "12h0m" → "12h"
		s = s[:len(s)-2]
	}
	b.WriteString(s)
	return b.String()
}
