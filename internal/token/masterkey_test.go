package token

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestMasterKeyFromSecret(t *testing.T) {
	tests := []struct {
		name    string
		secret  string
		wantErr string // substring; "" = success
	}{
		{"32 characters", strings.Repeat("a", 32), ""},
		{"long", testSecret, ""},
		{"31 characters", strings.Repeat("a", 31), "openssl rand -base64 32"},
		{"32 bytes but 8 characters", strings.Repeat("ü€", 4), "at least 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			key, gen, err := MasterKey(tt.secret, dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if len(key) != 32 {
				t.Errorf("got %d-byte key, want 32", len(key))
			}
			if gen != "" {
				t.Errorf("got generatedPath %q, want none with a secret", gen)
			}
			if _, err := os.Stat(filepath.Join(dir, MasterKeyFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("got master key file (stat err %v), want none with a secret", err)
			}
			again, _, _ := MasterKey(tt.secret, dir)
			if !bytes.Equal(key, again) {
				t.Errorf("same secret gave different keys")
			}
			other, _, _ := MasterKey(tt.secret+"x", dir)
			if bytes.Equal(key, other) {
				t.Errorf("different secrets gave the same key")
			}
		})
	}
}

func TestMasterKeyDevFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, MasterKeyFile)

	key, gen, err := MasterKey("", dir)
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	if gen != path {
		t.Errorf("got generatedPath %q, want %q", gen, path)
	}
	if len(key) != 32 {
		t.Errorf("got %d-byte key, want 32", len(key))
	}
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("got file mode %04o, want 0600", got)
		}
		di, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := di.Mode().Perm(); got != 0o700 {
			t.Errorf("got data dir mode %04o, want 0700", got)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("got %d entries in the data dir, want only %s", len(entries), MasterKeyFile)
	}

	again, gen, err := MasterKey("", dir)
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	if gen != "" {
		t.Errorf("second call: got generatedPath %q, want none", gen)
	}
	if !bytes.Equal(key, again) {
		t.Errorf("second call: got a different key")
	}

	// The file's content works as GATEHOUSE_SECRET.
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fromEnv, _, err := MasterKey(strings.TrimSpace(string(content)), t.TempDir())
	if err != nil {
		t.Fatalf("file content as secret: %v", err)
	}
	if !bytes.Equal(key, fromEnv) {
		t.Errorf("file content as GATEHOUSE_SECRET gave a different key")
	}
}

func TestMasterKeyFileTooOpen(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	tests := []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o640, false},
		{0o604, false},
		{0o644, false},
		{0o660, false},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			if _, _, err := MasterKey("", dir); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, MasterKeyFile)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, _, err := MasterKey("", dir)
			if tt.ok {
				if err != nil {
					t.Errorf("got error %v, want none", err)
				}
				return
			}
			if want := "chmod 600 " + path; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got error %v, want one containing %q", err, want)
			}
		})
	}
}

func TestMasterKeyFileBad(t *testing.T) {
	tests := []struct {
		name, content, wantErr string
	}{
		{"empty", "\n", "empty"},
		{"short", "abc\n", "at least 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, MasterKeyFile), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := MasterKey("", dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestMasterKeyConcurrentCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	const n = 8
	keys := make([][]byte, n)
	gens := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], gens[i], errs[i] = MasterKey("", dir) })
	}
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Errorf("call %d got a different key from call 0", i)
		}
		if gens[i] != "" {
			created++
		}
	}
	if created != 1 {
		t.Errorf("got %d calls reporting a generated file, want 1", created)
	}
}

func TestSealOpen(t *testing.T) {
	aead, err := newAEAD(testMaster(t, testSecret))
	if err != nil {
		t.Fatal(err)
	}
	other, err := newAEAD(testMaster(t, testSecret+"!"))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("pkcs8 bytes")
	sealed, err := seal(aead, rand.Reader, "kid1", msg)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := open(aead, "kid1", sealed); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("open: got %q, %v; want %q, nil", got, err, msg)
	}
	if _, err := open(aead, "kid2", sealed); !errors.Is(err, ErrMasterKeyMismatch) {
		t.Errorf("other key ID: got %v, want ErrMasterKeyMismatch", err)
	}
	if _, err := open(other, "kid1", sealed); !errors.Is(err, ErrMasterKeyMismatch) {
		t.Errorf("other master key: got %v, want ErrMasterKeyMismatch", err)
	}
	if _, err := open(aead, "kid1", sealed[:10]); err == nil {
		t.Errorf("truncated: got no error")
	}
	if _, err := newAEAD(make([]byte, 16)); err == nil {
		t.Errorf("16-byte master key: got no error, want one")
	}
}
