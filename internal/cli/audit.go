package cli

import (
	"github.com/spf13/cobra"

	"github.com/gatehouse/gatehouse/admin"
	"github.com/gatehouse/gatehouse/internal/adminapi"
	"github.com/gatehouse/gatehouse/internal/store"
)

func (e *env) auditCmd(df *dataFlags) *cobra.Command {
	var f store.AuditFilter
	var output string
	sf := &serverFlag{}
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
			rc, err := e.remote(cmd, sf)
			if err != nil {
				return err
			}
			var events []admin.AuditEvent
			if rc != nil {
				events, err = remoteAudit(cmd, rc.api, f)
			} else {
				events, err = e.localAudit(cmd, df, f)
			}
			if err != nil {
				return err
			}
			return e.printAudit(output, events)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Target, "target", "", "only events about this client or key ID")
	fl.StringVar(&f.Action, "action", "", "only events of this action, e.g. client.rotate_secret")
	fl.IntVar(&f.Limit, "limit", 50, "at most this many events (0 = all)")
	fl.StringVarP(&output, "output", "o", "table", "output format: table or json")
	sf.register(cmd, false)
	return cmd
}

func (e *env) localAudit(cmd *cobra.Command, df *dataFlags, f store.AuditFilter) ([]admin.AuditEvent, error) {
	st, err := e.openStore(cmd, df)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	events, err := st.ListAudit(cmd.Context(), f)
	if err != nil {
		return nil, err
	}
	out := make([]admin.AuditEvent, 0, len(events))
	for _, ev := range events {
		out = append(out, adminapi.AuditEvent(ev))
	}
	return out, nil
}

// maxAuditPage is the admin API's largest page.
const maxAuditPage = 200

func remoteAudit(cmd *cobra.Command, api *admin.API, f store.AuditFilter) ([]admin.AuditEvent, error) {
	af := admin.AuditFilter{Target: f.Target, Action: f.Action, Limit: maxAuditPage}
	if f.Limit > 0 && f.Limit < maxAuditPage {
		af.Limit = f.Limit
	}
	out := []admin.AuditEvent{}
	for ev, err := range api.AllAudit(cmd.Context(), af) {
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
		if len(out) == f.Limit {
			break
		}
	}
	return out, nil
}
