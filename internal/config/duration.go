package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse/internal/duration"
)

// Duration is a time.Duration written in YAML as a string such as "90s",
// "15m", "12h", "14d" or "1d12h" (see internal/duration). "0" is zero.
type Duration time.Duration

// UnmarshalYAML reads a duration string; negative durations are refused.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: want a duration such as 30s, 15m, 12h or 14d", n.Line)}}
	}
	v, err := duration.Parse(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration in the form UnmarshalYAML reads.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String formats d compactly: "1h", "1h30m", "30d", "1d12h", "1.5s".
func (d Duration) String() string {
	const day = 24 * time.Hour
	td := time.Duration(d)
	if td < 0 {
		return td.String()
	}
	var days string
	if td >= day {
		days = fmt.Sprintf("%dd", td/day)
		td %= day
		if td == 0 {
			return days
		}
	}
	s := td.String() // e.g. "1h0m0s", "10m0s", "1h30m0s", "1.5s"
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return days + s
}
