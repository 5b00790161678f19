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
