package grant

import (
	"errors"
	"testing"

	"github.com/gatehouse/gatehouse/internal/oauth"
)

func TestPickResource(t *testing.T) {
	const def = "https://api.test"
	a, b := "https://a.test", "urn:b"
	for _, tt := range []struct {
		name      string
		requested string
		granted   []string
		want      string // "" with wantErr false: the default
		wantErr   bool
	}{
		{"none named, none granted: the default", "", nil, "", false},
		{"none named, one granted: it", "", []string{a}, a, false},
		{"none named, several granted", "", []string{a, b}, "", true},
		{"one of those granted", b, []string{a, b}, b, false},
		{"one not granted", b, []string{a}, "", true},
		{"the default, none granted", def, nil, def, false},
		{"the default, others granted", def, []string{a}, "", true},
		{"the default among those granted", def, []string{def, a}, def, false},
		{"another, none granted", a, nil, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pickResource(tt.requested, def, tt.granted)
			var oe *oauth.Error
			switch {
			case tt.wantErr && (!errors.As(err, &oe) || oe.Code != oauth.CodeInvalidTarget):
				t.Errorf("got %q, %v; want invalid_target", got, err)
			case !tt.wantErr && (err != nil || got != tt.want):
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
