package resource

import (
	"strings"
	"testing"
)

func FuzzBearer(f *testing.F) {
	for _, s := range []string{
		"", "Bearer", "Bearer ", "Bearer abc", "bearer abc", "BEARER  a.b.c", "Bearer a.b.c==",
		"Bearer a=b", "Bearer a b", "Basic dXNlcjpwYXNz", "Bearerabc", "Bearer\tabc", "Bearer ~+/-._",
		"Bearer " + strings.Repeat("a", maxTokenLen+1), "Bearer é", "Bearer abc\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		tok, res := bearerToken(v)
		switch res {
		case bearerOK:
			if len(v) < 7 || !strings.EqualFold(v[:6], "bearer") || v[6] != ' ' {
				t.Fatalf("%q: accepted without the Bearer scheme", v)
			}
			if strings.TrimLeft(v[6:], " ") != tok {
				t.Fatalf("%q: token %q is not the rest of the header", v, tok)
			}
			if tok == "" || len(tok) > maxTokenLen {
				t.Fatalf("%q: token of length %d", v, len(tok))
			}
			body := strings.TrimRight(tok, "=")
			if body == "" {
				t.Fatalf("%q: token of only '='", v)
			}
			for i := 0; i < len(body); i++ {
				if !isB64TokenChar(body[i]) {
					t.Fatalf("%q: token has %q", v, body[i])
				}
			}
		case bearerNone:
			if tok != "" {
				t.Fatalf("%q: none but token %q", v, tok)
			}
			if len(v) > 6 && strings.EqualFold(v[:6], "bearer") && v[6] == ' ' {
				t.Fatalf("%q: Bearer scheme reported as none", v)
			}
		case bearerMalformed:
			if tok != "" {
				t.Fatalf("%q: malformed but token %q", v, tok)
			}
		}
	})
}
