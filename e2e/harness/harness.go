// Package harness is test support for the end-to-end tests under e2e: it
// builds the gatehouse binary once, runs CLI commands against a data
// directory, and starts long-running commands (serve, gateway) while
// watching their logs. It is imported only by _test.go files and is not
// part of gatehouse itself.
package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/testutil"
)

// Build compiles the gatehouse command into a temporary directory and
// returns the binary's path and a function that removes it. Call it once
// from TestMain.
//
// It also opens every source file of the module, so that go test's result
// cache, which records the files a test opens, reruns the end-to-end tests
// when the binary's source changes: the test binaries themselves import
// little of it.
func Build() (path string, cleanup func(), err error) {
	if err := openSources(); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "gatehouse-e2e")
	if err != nil {
		return "", nil, err
	}
	path = filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", path, "github.com/gatehouse/gatehouse/cmd/gatehouse")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("build gatehouse: %w", err)
	}
	return path, func() { os.RemoveAll(dir) }, nil
}

// Main is the body of an end-to-end package's TestMain: it builds the
// binary, sets *binary to its path, runs the tests, removes the binary and
// returns the exit code for os.Exit. Parse flags before calling it.
func Main(m *testing.M, binary *string) int {
	path, cleanup, err := Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	*binary = path
	return m.Run()
}

// openSources opens (and closes) every file of the module that goes into
// the gatehouse binary: Go sources, embedded SQL, templates and assets.
func openSources() error {
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	dir := filepath.Dir(strings.TrimSpace(string(root)))
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); p != dir && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(p) {
		case ".go", ".sql", ".html", ".tmpl", ".css", ".js", ".yaml", ".mod", ".sum":
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			return f.Close()
		}
		return nil
	})
}

// Instance is one data directory (or database) used by servers and the
// CLI.
type Instance struct {
	T       *testing.T
	Binary  string
	DataDir string
	Env     []string
}

// NewInstance returns an instance with a fresh data directory; extraEnv is
// added to the environment of every command.
func NewInstance(t *testing.T, binary string, extraEnv ...string) *Instance {
	t.Helper()
	dir := t.TempDir()
	env := append(os.Environ(), "GATEHOUSE_DATA_DIR="+dir)
	env = append(env, extraEnv...)
	return &Instance{T: t, Binary: binary, DataDir: dir, Env: env}
}

// WithEnv returns a copy of the instance whose commands also get env.
func (in *Instance) WithEnv(env ...string) *Instance {
	c := *in
	c.Env = append(slices.Clip(in.Env), env...)
	return &c
}

// CLI runs a gatehouse command with stdin and returns its stdout, stderr
// and exit code. It fails the test only if the command cannot be run.
func (in *Instance) CLI(stdin string, args ...string) (stdout, stderr string, code int) {
	in.T.Helper()
	cmd := exec.Command(in.Binary, args...)
	cmd.Env = in.Env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		in.T.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// MustCLI runs a gatehouse command with empty stdin and returns its
// stdout, failing the test on a non-zero exit.
func (in *Instance) MustCLI(args ...string) string {
	in.T.Helper()
	return in.MustCLIInput("", args...)
}

// MustCLIInput is MustCLI with stdin.
func (in *Instance) MustCLIInput(stdin string, args ...string) string {
	in.T.Helper()
	out, errOut, code := in.CLI(stdin, args...)
	if code != 0 {
		in.T.Fatalf("gatehouse %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// CreatedClient is the JSON output of `clients create`.
type CreatedClient struct {
	ClientID        string   `json:"client_id"`
	ClientSecret    string   `json:"client_secret"`
	Name            string   `json:"name"`
	Scopes          []string `json:"scopes"`
	TokenTTLSeconds int64    `json:"token_ttl_seconds"`
}

// CreateClient runs `clients create` with args and returns the client.
func (in *Instance) CreateClient(args ...string) CreatedClient {
	in.T.Helper()
	out := in.MustCLI(append([]string{"clients", "create", "--output", "json"}, args...)...)
	var c CreatedClient
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		in.T.Fatalf("clients create output %q: %v", out, err)
	}
	return c
}

// Start runs the gatehouse command args in this instance, as the package
// function Start does.
func (in *Instance) Start(args []string, patterns ...*regexp.Regexp) *Server {
	in.T.Helper()
	return Start(in.T, in.Binary, in.Env, args, patterns...)
}

// ListenRE finds the address in the log line of a server that listens on
// 127.0.0.1.
var ListenRE = regexp.MustCompile(`addr=http://(127\.0\.0\.1:\d+)`)

// SetupLinkRE finds the first-administrator setup link that serve prints
// on stderr when no administrator exists.
var SetupLinkRE = regexp.MustCompile(`^\s+(http://\S+/console/setup\?token=[A-Za-z0-9_-]+)\s*$`)

// Server is a running gatehouse process, such as serve or gateway.
type Server struct {
	Cmd *exec.Cmd
	// URL is "http://" and the first pattern's match, if Start was given
	// patterns.
	URL string
	// Matches holds group 1 of the first match of each pattern given to
	// Start, in order.
	Matches []string
	// Logs is the process's stdout and stderr.
	Logs *SyncBuffer
	// Done receives the result of the process's Wait once.
	Done chan error

	exited chan struct{}
}

// startTimeout bounds how long Start waits for all its patterns.
const startTimeout = 30 * time.Second

// Start runs binary with args and env, copies its output into the
// server's Logs, and waits until each of patterns has matched a line of
// stderr; group 1 of each first match is in Matches. It fails the test if
// the process exits or does not print them all in time. The process is
// killed when the test ends, unless it has exited.
func Start(t *testing.T, binary string, env, args []string, patterns ...*regexp.Regexp) *Server {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	s := &Server{Cmd: cmd, Logs: &SyncBuffer{}, Done: make(chan error, 1), exited: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = s.Logs, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		pw.Close()
		s.Done <- err
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			cmd.Process.Kill()
			<-s.exited
		}
	})

	found := make(chan []string, 1)
	go func() {
		matches := make([]string, len(patterns))
		seen := make([]bool, len(patterns))
		left := len(patterns)
		if left == 0 {
			found <- matches
		}
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			s.Logs.Write([]byte(line + "\n"))
			for i, re := range patterns {
				if seen[i] {
					continue
				}
				if m := re.FindStringSubmatch(line); m != nil {
					matches[i], seen[i] = m[1], true
					if left--; left == 0 {
						found <- matches
					}
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()

	name := "gatehouse"
	if len(args) > 0 {
		name = args[0]
	}
	select {
	case s.Matches = <-found:
	case err := <-s.Done:
		t.Fatalf("%s exited early: %v\n%s", name, err, s.Logs)
	case <-time.After(startTimeout):
		cmd.Process.Kill()
		t.Fatalf("%s did not start\n%s", name, s.Logs)
	}
	if len(s.Matches) > 0 {
		s.URL = "http://" + s.Matches[0]
	}
	return s
}

// SyncBuffer is a bytes.Buffer safe for concurrent use.
type SyncBuffer = testutil.SyncBuffer

// Within polls cond every 50ms and fails the test if it is not true
// within d.
func Within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// DoJSON sends req and returns the status and the JSON object in the
// body (nil if it is not one).
func DoJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// Fetch GETs u and returns the body.
func Fetch(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
