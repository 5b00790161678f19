package secret

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	a, err := Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Generate(rand.Reader)
	if !strings.HasPrefix(a, Prefix) || len(a) != len(Prefix)+43 || a == b {
		t.Errorf("got %q and %q, want two different ghs_ + 43-character secrets", a, b)
	}
	if CheckSupplied(a) != nil {
		t.Errorf("a generated secret fails CheckSupplied: %v", CheckSupplied(a))
	}
	if _, err := Generate(bytes.NewReader(make([]byte, 5))); err == nil {
		t.Error("short randomness: got nil error")
	}
}

func TestCheckSupplied(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" = accepted
	}{
		{strings.Repeat("a", 32), ""},
		{strings.Repeat("é", 32), ""},
		{strings.Repeat("a", 31), "at least 32"},
		{strings.Repeat("a", 30) + " x", "whitespace"},
		{strings.Repeat("a", 32) + "\x00", "control"},
		{strings.Repeat("a", MaxLen+1), "at most"},
		{strings.Repeat("a", 32) + "\xff", "UTF-8"},
	} {
		err := CheckSupplied(tc.in)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckSupplied(%.40q): got %v, want %q", tc.in, err, tc.want)
		}
	}
}

func TestMatchesAndHint(t *testing.T) {
	s := "ghs_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
	d := Digest(s)
	if !Matches(s, d) || Matches(s+"x", d) || Matches("", d) || Matches(s, d[:31]) {
		t.Error("Matches accepts the wrong secret or digest")
	}
	if h := Hint(s); h != "ghs_0123" {
		t.Errorf("Hint: got %q, want ghs_0123", h)
	}
	if h := Hint("ghs_"); h != "" {
		t.Errorf("Hint of a too-short secret: got %q, want empty", h)
	}
}
