package jws

import (
	"errors"
	"testing"
)

func TestVerifyTypeJWT(t *testing.T) {
	k := newTestKey(t, "k", ES256)
	p := policy
	p.Type = TypeJWT
	for _, tt := range []struct {
		typ  any // nil: no typ
		want Reason
	}{
		{nil, 0},
		{"JWT", 0},
		{"jwt", 0},
		{"application/jwt", 0},
		{"at+jwt", BadHeader},
		{"application/at+jwt", BadHeader},
		{"JOSE", BadHeader},
	} {
		h := with(k.header(), "typ", tt.typ)
		_, err := Verify(k.sign(t, h, validClaims()), keysOf(k), p)
		var e *Error
		switch {
		case tt.want == 0 && err != nil:
			t.Errorf("typ %v: got %v, want success", tt.typ, err)
		case tt.want != 0 && (!errors.As(err, &e) || e.Reason != tt.want):
			t.Errorf("typ %v: got %v, want %v", tt.typ, err, tt.want)
		}
	}
	// The access-token policy still refuses a plain JWT.
	if _, err := Verify(k.sign(t, with(k.header(), "typ", "JWT"), validClaims()), keysOf(k), policy); err == nil {
		t.Errorf("typ JWT under the access-token policy: got success, want BadHeader")
	}
}

func TestSubject(t *testing.T) {
	k := newTestKey(t, "k", EdDSA)
	if sub, err := Subject(k.sign(t, k.header(), with(validClaims(), "sub", "client-7"))); err != nil || sub != "client-7" {
		t.Errorf("Subject: got %q, %v; want client-7", sub, err)
	}
	for _, tok := range []string{"", "a.b", "a.b.c.d", "e30.!!.c", "e30.bm90IGpzb24.c"} {
		if sub, err := Subject(tok); err == nil {
			t.Errorf("Subject(%q): got %q, want an error", tok, sub)
		}
	}
}

// FuzzSubject: Subject never panics, refuses with an *Error, and agrees
// with Verify on the sub of every token Verify accepts as a client
// assertion.
func FuzzSubject(f *testing.F) {
	k := newTestKey(f, "k", EdDSA)
	f.Add(k.sign(f, with(k.header(), "typ", "JWT"), validClaims()))
	f.Add(k.sign(f, with(k.header(), "typ", nil), with(validClaims(), "sub", 7)))
	for _, s := range []string{"", ".", "..", "a.b.c", "e30.e30.AA", "e30.bnVsbA.AA"} {
		f.Add(s)
	}
	p := policy
	p.Type = TypeJWT
	f.Fuzz(func(t *testing.T, tok string) {
		sub, err := Subject(tok)
		var je *Error
		if err != nil && !errors.As(err, &je) {
			t.Fatalf("%q: refused with %#v", tok, err)
		}
		if c, verr := Verify(tok, keysOf(k), p); verr == nil && (err != nil || sub != c.Subject) {
			t.Fatalf("%q: Subject %q, %v; Verify's sub %q", tok, sub, err, c.Subject)
		}
	})
}
