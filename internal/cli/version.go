package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildInfo is what `gatehouse version` prints.
type buildInfo struct {
	Version   string `json:"version"`            // module version, or Version if set at link time
	Revision  string `json:"revision,omitempty"` // VCS commit
	Time      string `json:"time,omitempty"`     // commit time, RFC 3339
	Modified  bool   `json:"modified"`           // the work tree had uncommitted changes
	GoVersion string `json:"go_version"`
}

// readBuildInfo turns the binary's embedded build information into what
// `gatehouse version` shows. linked is cli.Version, which wins over the
// module version unless it is the default "dev".
func readBuildInfo(bi *debug.BuildInfo, ok bool, linked string) buildInfo {
	out := buildInfo{Version: linked}
	if !ok {
		return out
	}
	out.GoVersion = bi.GoVersion
	if linked == "dev" && bi.Main.Version != "" {
		out.Version = bi.Main.Version // "(devel)" for a build from a work tree
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			out.Revision = s.Value
		case "vcs.time":
			out.Time = s.Value
		case "vcs.modified":
			out.Modified = s.Value == "true"
		}
	}
	return out
}

func (e *env) versionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			bi, ok := debug.ReadBuildInfo()
			info := readBuildInfo(bi, ok, Version)
			if output == "json" {
				return writeJSONOut(e.stdout, info)
			}
			w := e.stdout
			fmt.Fprintf(w, "gatehouse %s\n", info.Version)
			if info.Revision != "" {
				mod := ""
				if info.Modified {
					mod = " (modified)"
				}
				fmt.Fprintf(w, "  revision: %s%s\n", info.Revision, mod)
			}
			if info.Time != "" {
				fmt.Fprintf(w, "  time:     %s\n", info.Time)
			}
			if info.GoVersion != "" {
				fmt.Fprintf(w, "  go:       %s\n", info.GoVersion)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}
