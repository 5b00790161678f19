package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/e2e/harness"
)

// readmeBlock is one fenced code block of README.md.
type readmeBlock struct {
	lang string // the fence's info string, e.g. "sh"
	line int    // line of the opening fence, from 1
	text string
}

func (b readmeBlock) String() string { return fmt.Sprintf("README.md:%d (%s)", b.line, b.lang) }

// parseFences returns the fenced code blocks of a Markdown document.
func parseFences(doc string) ([]readmeBlock, error) {
	var blocks []readmeBlock
	var cur *readmeBlock
	var body []string
	for i, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "```") {
			if cur != nil {
				body = append(body, line)
			}
			continue
		}
		if cur == nil {
			cur = &readmeBlock{lang: strings.TrimSpace(strings.TrimPrefix(line, "```")), line: i + 1}
			body = nil
			continue
		}
		if strings.TrimSpace(line) != "```" {
			return nil, fmt.Errorf("line %d: %q inside the block opened at line %d", i+1, line, cur.line)
		}
		cur.text = strings.Join(body, "\n") + "\n"
		blocks = append(blocks, *cur)
		cur = nil
	}
	if cur != nil {
		return nil, fmt.Errorf("block opened at line %d is not closed", cur.line)
	}
	return blocks, nil
}

// readmeNotCode says why blocks in these languages are not run. A block in
// any other language fails the test until it is run or listed.
var readmeNotCode = map[string]string{
	"yaml": "configuration (the scope catalog that starts with `scopes:` is saved as scopes.yaml, the OpenAPI document that starts with `openapi:` as openapi.yaml, for the blocks that use them)",
	"":     "program output, shown as it is printed",
}

// readmeExempt lists the sh and go blocks that are not run: each is named by
// a string that only it contains, with the reason. An entry that matches no
// block, or more than one, fails the test.
var readmeExempt = []struct{ contains, reason string }{
	{"go run ./cmd/gatehouse serve", "runs serve in the foreground and the whole test suite: the test builds the same package (harness.Build) and starts serve itself"},
	{"go install ./cmd/gatehouse", "builds the binary into GOPATH: the test builds the same package (harness.Build) and puts it on PATH"},
	{"gatehouse clients create --name NAME", "a synopsis: [optional] arguments and | alternatives, not commands"},
	{"--jwks-file jwks.json", "needs a key pair's JWKS file and a client ID; TestPrivateKeyJWT (pkjwt_test.go) registers a client with --jwks-file and signs assertions with its private key"},
	{"gatehouse users create --username alice", "a synopsis ([--output json]), and set-password reads a new password from a terminal"},
	{"npx newman run api.postman.json", "fetches newman from npm and needs a client's secret: e2e/postman_test.go runs newman on serve's collection through the gateway"},
	{"--dpop-required   # every token request", "needs an update ID, and a key pair to sign DPoP proofs; TestDPoP (e2e/dpop_test.go) creates a --dpop-required client and runs the flow through serve and the gateway"},
	{"grant_type=authorization_code", "needs a code from a browser login and consent, which e2e/browser drives"},
	{"--resource http://127.0.0.1:8082/mcp", "needs an MCP server upstream and serve with the MCP catalog; TestMCP (mcp_test.go) runs this setup with the MCP SDK's server and client"},
}

// readmeLang maps a fence's language to how the test treats it.
func readmeLang(lang string) string {
	switch lang {
	case "sh", "bash", "shell":
		return "sh"
	case "go":
		return "go"
	}
	return lang
}

// TestReadme runs the README's examples as a newcomer would paste them: one
// bash session (set -euo pipefail) in a fresh directory, with the built
// gatehouse on PATH and `gatehouse serve` running there on
// ./gatehouse-data. Every ```sh block runs in that session, in README
// order; every ```go block is compiled inside this module, and a main
// program is started (a server is left running for the blocks after it).
// The addresses the README uses are replaced by free ones:
// 127.0.0.1:8080 by the server's, 127.0.0.1:8081 (the gateway) and
// 127.0.0.1:3000 (the Go API), 127.0.0.1:8090 (a second serve, with
// resources), 127.0.0.1:8082 and 127.0.0.1:8083 (servers with client
// registration on) by ports nobody listens on. curl runs with
// --fail-with-body (through CURL_HOME/.curlrc), so an HTTP error fails the
// block, and without a progress meter. Expected output in comments is not compared.
func TestReadme(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI (.ci/run installs it): %v", tool, err)
			}
			t.Skipf("%s not installed: %v", tool, err)
		}
	}
	doc, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseFences(string(doc))
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	run, files := selectReadmeBlocks(t, blocks)
	if t.Failed() {
		return
	}

	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".curlrc"), []byte("--fail-with-body\n--show-error\n--no-progress-meter\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"PATH=" + filepath.Dir(binary) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"CURL_HOME=" + dir,
	}
	for _, kv := range os.Environ() {
		// A fresh terminal: no GATEHOUSE_* settings from the caller.
		if !strings.HasPrefix(kv, "GATEHOUSE_") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "CURL_HOME=") {
			env = append(env, kv)
		}
	}

	srv := harness.Start(t, binary, env, []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "gatehouse-data")}, harness.ListenRE)
	addrs := strings.NewReplacer(
		"127.0.0.1:8080", strings.TrimPrefix(srv.URL, "http://"),
		"127.0.0.1:8081", freeAddr(t),
		"127.0.0.1:3000", freeAddr(t),
		"127.0.0.1:8090", freeAddr(t),
		"127.0.0.1:8082", freeAddr(t), // servers with dynamic registration on
		"127.0.0.1:8083", freeAddr(t),
	)
	// started lists the addresses of processes the blocks start.
	started := []string{addrs.Replace("127.0.0.1:8081"), addrs.Replace("127.0.0.1:3000"), addrs.Replace("127.0.0.1:8090"),
		addrs.Replace("127.0.0.1:8082"), addrs.Replace("127.0.0.1:8083")}

	sh := startShell(t, dir, env)
	for _, b := range run {
		text := addrs.Replace(b.text)
		var listen []string
		for _, a := range started {
			if strings.Contains(text, a) {
				listen = append(listen, a)
			}
		}
		switch readmeLang(b.lang) {
		case "sh":
			out, err := sh.run(b, text)
			if err != nil {
				t.Fatalf("%s: %v\nblock:\n%s\noutput:\n%s\nserver log:\n%s", b, err, text, out, srv.Logs)
			}
			t.Logf("%s: ran; output:\n%s", b, out)
		case "go":
			runGoBlock(t, b, text, dir, env)
			t.Logf("%s: compiled and started", b)
		}
		for _, a := range listen {
			waitListening(t, b, a)
		}
	}
}

// selectReadmeBlocks returns the blocks to run, in order, and the example
// files (scopes.yaml, the scope catalog; openapi.yaml, the OpenAPI
// document) by name; it fails the test for a block that is neither run
// nor exempt, and for an exemption that does not name exactly one block.
func selectReadmeBlocks(t *testing.T, blocks []readmeBlock) (run []readmeBlock, files map[string]string) {
	t.Helper()
	files = make(map[string]string)
	matched := make([]int, len(readmeExempt))
	for _, b := range blocks {
		lang := readmeLang(b.lang)
		if lang != "sh" && lang != "go" {
			if _, ok := readmeNotCode[lang]; !ok {
				t.Errorf("%s: a block in a language this test does not know: run it or list it in readmeNotCode", b)
			}
			switch {
			case lang == "yaml" && strings.HasPrefix(b.text, "scopes:"):
				files["scopes.yaml"] = b.text
			case lang == "yaml" && strings.HasPrefix(b.text, "openapi:"):
				files["openapi.yaml"] = b.text
			}
			continue
		}
		exempt := false
		for i, e := range readmeExempt {
			if strings.Contains(b.text, e.contains) {
				matched[i]++
				exempt = true
				t.Logf("%s: not run: %s", b, e.reason)
			}
		}
		if !exempt {
			run = append(run, b)
		}
	}
	for i, e := range readmeExempt {
		if matched[i] != 1 {
			t.Errorf("readmeExempt %q matches %d README blocks, want 1", e.contains, matched[i])
		}
	}
	return run, files
}

// shell is one bash session that runs README blocks in turn, like a
// terminal: variables, the working directory and background jobs carry
// over from one block to the next.
type shell struct {
	in    io.WriteCloser
	lines chan string // the session's stdout: only the markers the test prints
	log   string      // the blocks' stdout and stderr
	aside string      // where the blocks are written
}

func startShell(t *testing.T, dir string, env []string) *shell {
	t.Helper()
	aside := t.TempDir() // the block files and their output, out of the session's way
	s := &shell{log: filepath.Join(aside, "session.log"), aside: aside, lines: make(chan string, 100)}
	cmd := exec.Command("bash", "--noprofile", "--norc", "-s")
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // to kill background jobs with it
	var err error
	if s.in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	t.Cleanup(func() {
		s.in.Close()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	if _, err := io.WriteString(s.in, "set -euo pipefail\n"); err != nil {
		t.Fatal(err)
	}
	return s
}

// blockTimeout bounds one shell block.
const blockTimeout = 2 * time.Minute

// run runs one block in the session and returns what it printed. A command
// that fails ends the session (set -e), and every later block with it.
func (s *shell) run(b readmeBlock, text string) (string, error) {
	file := filepath.Join(s.aside, fmt.Sprintf("readme-%d.sh", b.line))
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		return "", err
	}
	before := s.logSize()
	marker := fmt.Sprintf("readme block %d done", b.line)
	cmd := fmt.Sprintf("source %q >>%q 2>&1 </dev/null; echo %q\n", file, s.log, marker)
	if _, err := io.WriteString(s.in, cmd); err != nil {
		return s.logSince(before), fmt.Errorf("session ended before this block: %v", err)
	}
	timeout := time.After(blockTimeout)
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				return s.logSince(before), fmt.Errorf("a command failed (bash -euo pipefail exited)")
			}
			if line == marker {
				return s.logSince(before), nil
			}
		case <-timeout:
			return s.logSince(before), fmt.Errorf("not done within %s", blockTimeout)
		}
	}
}

func (s *shell) logSize() int64 {
	fi, err := os.Stat(s.log)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (s *shell) logSince(off int64) string {
	b, _ := os.ReadFile(s.log)
	if off > int64(len(b)) {
		off = 0
	}
	return string(b[off:])
}

// goBlockTimeout bounds a Go example that is a program which exits.
const goBlockTimeout = time.Minute

// runGoBlock compiles a ```go block as a package of this module (through
// go build -overlay, so nothing is written into the source tree; its
// imports of github.com/gatehouse/gatehouse/... resolve to this checkout).
// A main program is then started in dir; one that serves is left running
// (waitListening checks its address), one that exits must exit 0.
func runGoBlock(t *testing.T, b readmeBlock, text, dir string, env []string) {
	t.Helper()
	if !regexp.MustCompile(`(?m)^package \w+`).MatchString(text) {
		t.Fatalf("%s: not a complete Go file (no package clause): make it one, or exempt it in readmeExempt", b)
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	work := t.TempDir()
	src := filepath.Join(work, "main.go")
	if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	pkgDir := filepath.Join(root, "e2e", fmt.Sprintf("readmeblock%d", b.line))
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(pkgDir, "main.go"): src}})
	overlayFile := filepath.Join(work, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(work, "example")
	build := exec.Command("go", "build", "-overlay", overlayFile, "-o", exe, "./"+filepath.Base(pkgDir))
	build.Dir = filepath.Dir(pkgDir)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: go build: %v\n%s\nblock:\n%s", b, err, out, text)
	}
	if !regexp.MustCompile(`(?m)^package main\b`).MatchString(text) {
		return // a library package: compiling it is all
	}
	logf, err := os.Create(filepath.Join(work, "example.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		logf.Close()
	})
	if strings.Contains(text, "ListenAndServe") {
		select {
		case err := <-done:
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("%s: the server exited: %v\n%s", b, err, out)
		case <-time.After(100 * time.Millisecond):
		}
		return
	}
	select {
	case err := <-done:
		if err != nil {
			out, _ := os.ReadFile(logf.Name())
			t.Fatalf("%s: %v\n%s", b, err, out)
		}
	case <-time.After(goBlockTimeout):
		t.Fatalf("%s: did not exit within %s", b, goBlockTimeout)
	}
}

// waitListening fails the test unless something accepts connections on
// addr within 15 seconds of block b.
func waitListening(t *testing.T, b readmeBlock, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: nothing listens on %s, which it uses: %v", b, addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
