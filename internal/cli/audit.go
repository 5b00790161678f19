package cli

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/internal/store"
)

func (e *env) auditCmd(df *dataFlags) *cobra.Command {
	var f store.AuditFilter
	var output string
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List the audit trail of administrative changes, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if f.Limit < 0 {
				return usagef("--limit must not be negative")
			}
			st, err := e.openStore(cmd, df)
			if err != nil {
				return err
			}
			defer st.Close()
			events, err := st.ListAudit(cmd.Context(), f)
			if err != nil {
				return err
			}
			if output == "json" {
				type ev struct {
					ID     int64     `json:"id"`
					Time   time.Time `json:"time"`
					Actor  string    `json:"actor"`
					Action string    `json:"action"`
					Target string    `json:"target"`
					Detail string    `json:"detail"`
				}
				out := make([]ev, 0, len(events))
				for _, e := range events {
					out = append(out, ev{e.ID, e.Time, e.Actor, e.Action, e.Target, e.Detail})
				}
				return writeJSONOut(e.stdout, out)
			}
			t := newTable(e.stdout, "TIME", "ACTOR", "ACTION", "TARGET", "DETAIL")
			for _, ev := range events {
				t.row(ev.Time.Local().Format(time.RFC3339), ev.Actor, ev.Action, ev.Target, ev.Detail)
			}
			return t.flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Target, "target", "", "only events about this client or key ID")
	fl.StringVar(&f.Action, "action", "", "only events of this action, e.g. client.rotate_secret")
	fl.IntVar(&f.Limit, "limit", 50, "at most this many events (0 = all)")
	fl.StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}
