// Package cli implements the gatehouse command line. Run is the whole
// program: main only wires signals, arguments, environment and streams.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/store"
	"github.com/gatehouse/gatehouse/internal/store/backend"
)

// Version is set at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

// env gives commands the process environment and standard streams.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// Run executes the gatehouse command line and returns the exit code.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	root := e.rootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "gatehouse: "+errorText(err))
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError marks errors in how a command was called (exit status 2).
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}

// dataFlags are the flags every command that touches data accepts.
type dataFlags struct {
	configFile string
	dataDir    string
	database   string
}

func (e *env) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Gatehouse: an OAuth 2.0 authorization server for API platforms",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	df := &dataFlags{}
	pf := root.PersistentFlags()
	pf.StringVar(&df.configFile, "config", "", "config file (YAML); env GATEHOUSE_CONFIG")
	pf.StringVar(&df.dataDir, "data-dir", "", "data directory (default ./gatehouse-data); env GATEHOUSE_DATA_DIR")
	pf.StringVar(&df.database, "database", "", "database URL: postgres://... (default: SQLite in the data directory); env GATEHOUSE_DATABASE_URL")

	root.AddCommand(
		e.serveCmd(df),
		e.migrateCmd(df),
		e.clientsCmd(df),
		e.usersCmd(df),
		e.keysCmd(df),
		e.auditCmd(df),
		e.registrationCmd(df),
		e.gatewayCmd(),
		e.scopesCmd(),
		e.openapiCmd(df),
		e.versionCmd(),
	)
	return root
}

// loadConfig reads the config file and environment, then applies the flags
// the user set (flags beat environment beat file beat defaults).
func (e *env) loadConfig(cmd *cobra.Command, df *dataFlags, apply func(*config.Config)) (config.Config, error) {
	cfg, err := config.Load(df.configFile, e.getenv) // "": GATEHOUSE_CONFIG
	if err != nil {
		return cfg, err
	}
	fl := cmd.Flags()
	if fl.Changed("data-dir") {
		cfg.DataDir = df.dataDir
	}
	if fl.Changed("database") {
		cfg.Database = df.database
	}
	if apply != nil {
		apply(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// openStore loads the configuration and opens the store, for commands that
// need nothing else. The caller closes the store.
func (e *env) openStore(cmd *cobra.Command, df *dataFlags) (store.Store, error) {
	cfg, err := e.loadConfig(cmd, df, nil)
	if err != nil {
		return nil, err
	}
	return backend.Open(cmd.Context(), cfg.Database, cfg.DataDir)
}

// actor names who runs a CLI command, for the audit trail.
func (e *env) actor() string {
	name := e.getenv("USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		} else {
			name = "unknown"
		}
	}
	host, _ := os.Hostname()
	return "cli:" + name + "@" + host
}
