package secret

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestHashVerifyPassword(t *testing.T) {
	cheap := Argon2Params{Memory: 64, Time: 1, Threads: 1}
	h, err := HashPassword("correct horse battery", cheap, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=64,t=1,p=1$"; !strings.HasPrefix(h, want) {
		t.Errorf("hash = %q, want prefix %q", h, want)
	}
	h2, _ := HashPassword("correct horse battery", cheap, rand.Reader)
	if h == h2 {
		t.Error("two hashes of one password are equal; want distinct salts")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{"correct horse battery", true},
		{"correct horse batterY", false},
		{"", false},
		{"correct horse battery ", false},
	} {
		got, err := VerifyPassword(tc.pw, h)
		if err != nil || got != tc.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v, nil", tc.pw, got, err, tc.want)
		}
	}
}

func TestVerifyPasswordOtherParams(t *testing.T) {
	// A hash made elsewhere with the production parameters still verifies
	// by a service with other parameters: they come from the hash.
	h, err := HashPassword("pw-123456789012", Argon2Params{Memory: 128, Time: 2, Threads: 2}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := VerifyPassword("pw-123456789012", h); !ok || err != nil {
		t.Errorf("VerifyPassword = %v, %v; want true, nil", ok, err)
	}
}

func TestHashPasswordDefaults(t *testing.T) {
	h, err := HashPassword("pw-123456789012", Argon2Params{}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=65536,t=2,p=1$"; !strings.HasPrefix(h, want) {
		t.Errorf("hash with zero parameters = %q, want prefix %q", h, want)
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	for _, h := range []string{
		"",
		"plaintext",
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,m=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=x,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=99999999,t=1,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$!!$" + key,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$",
	} {
		ok, err := VerifyPassword("whatever-password", h)
		if ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("VerifyPassword(_, %q) = %v, %v; want false, ErrMalformedHash", h, ok, err)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	for _, tc := range []struct {
		pw string
		ok bool
	}{
		{"short", false},
		{"elevenchars", false},
		{"twelve chars", true},
		{"ünïcödé-twelv", true},
		{strings.Repeat("x", 1024), true},
		{strings.Repeat("x", 1025), false},
		{"bad utf8 \xff\xfe....", false},
	} {
		if err := CheckPassword(tc.pw); (err == nil) != tc.ok {
			t.Errorf("CheckPassword(%.20q) = %v; want ok=%v", tc.pw, err, tc.ok)
		}
	}
}
