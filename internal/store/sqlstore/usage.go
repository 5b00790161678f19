package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/gatehouse/gatehouse/internal/store"
)

// Usage per credential (store.UsageStore): daily totals per client of the
// calls gateways report and of the tokens issued, and each client's source
// addresses, a bounded top by count.

// UsageCallColumns are the columns of usage_calls, in the order of
// ScanUsageCalls.
const UsageCallColumns = "client_id, day, pattern, outcome, count, last_seen"

// UsageTokenColumns are the columns of usage_tokens.
const UsageTokenColumns = "client_id, day, count"

// UsageAddressColumns are the columns of usage_addresses, in the order of
// ScanUsageAddress.
const UsageAddressColumns = "client_id, address, count, first_seen, last_seen"

// ScanUsageCalls scans UsageCallColumns.
func ScanUsageCalls(c Codec, row Scanner) (store.UsageCalls, error) {
	var u store.UsageCalls
	err := row.Scan(&u.ClientID, &u.Day, &u.Pattern, &u.Outcome, &u.Count, c.TimeDest(&u.LastSeen))
	return u, err
}

// ScanUsageTokens scans UsageTokenColumns.
func ScanUsageTokens(_ Codec, row Scanner) (store.UsageTokens, error) {
	var u store.UsageTokens
	err := row.Scan(&u.ClientID, &u.Day, &u.Count)
	return u, err
}

// ScanUsageAddress scans UsageAddressColumns.
func ScanUsageAddress(c Codec, row Scanner) (store.UsageAddress, error) {
	var u store.UsageAddress
	err := row.Scan(&u.ClientID, &u.Address, &u.Count, c.TimeDest(&u.FirstSeen), c.TimeDest(&u.LastSeen))
	return u, err
}

// later is the SQL of the later of a stored time column and the one of the
// row being inserted.
func later(table, column string) string {
	return column + " = CASE WHEN excluded." + column + " > " + table + "." + column +
		" THEN excluded." + column + " ELSE " + table + "." + column + " END"
}

var (
	upsertUsageCalls = "INSERT INTO usage_calls (" + UsageCallColumns + ") " + Values(UsageCallColumns) +
		" ON CONFLICT (client_id, day, pattern, outcome) DO UPDATE SET count = usage_calls.count + excluded.count, " +
		later("usage_calls", "last_seen")
	upsertUsageTokens = "INSERT INTO usage_tokens (" + UsageTokenColumns + ") VALUES %s" +
		" ON CONFLICT (client_id, day) DO UPDATE SET count = usage_tokens.count + excluded.count"
	// insertUsageAddresses inserts the addresses that are new to their
	// clients and returns them; upsertUsageAddresses adds to those that
	// are not.
	insertUsageAddresses = "INSERT INTO usage_addresses (" + UsageAddressColumns + ") VALUES %s" +
		" ON CONFLICT (client_id, address) DO NOTHING RETURNING client_id, address"
	upsertUsageAddresses = "INSERT INTO usage_addresses (" + UsageAddressColumns + ") VALUES %s" +
		" ON CONFLICT (client_id, address) DO UPDATE SET count = usage_addresses.count + excluded.count, " +
		later("usage_addresses", "last_seen")
	insertAuditEvents = "INSERT INTO audit_events (time, actor, action, target, detail) VALUES %s"
)

// RecordUsage adds r to the stored totals, in multi-row statements; rows
// of clients that do not exist are left out. Clients are visited in ID
// order, the order in which lockClient locks client rows.
func (s *Store) RecordUsage(ctx context.Context, r store.UsageReport, maxAddresses int, newAddress func(store.UsageAddress) store.AuditEvent) ([]store.UsageAddress, error) {
	calls := slices.Clone(r.Calls)
	slices.SortFunc(calls, func(a, b store.UsageCalls) int { return cmp.Compare(a.ClientID, b.ClientID) })
	tokens := mergeUsageTokens(r.Tokens)
	addrs := mergeUsageAddresses(r.Addresses)
	var added []store.UsageAddress
	err := s.db.Write(ctx, func(tx Tx) error {
		added = added[:0]
		known, err := s.existingClients(ctx, tx, calls, tokens, addrs)
		if err != nil {
			return err
		}
		for _, c := range calls {
			if !known[c.ClientID] {
				continue
			}
			if _, err := tx.Exec(ctx, upsertUsageCalls, c.ClientID, c.Day, c.Pattern, c.Outcome, c.Count, s.db.Time(c.LastSeen)); err != nil {
				return err
			}
		}
		tokens = slices.DeleteFunc(tokens, func(t store.UsageTokens) bool { return !known[t.ClientID] })
		if err := inBatches(tokens, func(b []store.UsageTokens) error {
			args := make([]any, 0, 3*len(b))
			for _, t := range b {
				args = append(args, t.ClientID, t.Day, t.Count)
			}
			_, err := tx.Exec(ctx, fmt.Sprintf(upsertUsageTokens, valueRows(len(b), "", "", "")), args...)
			return err
		}); err != nil {
			return err
		}
		addrs = slices.DeleteFunc(addrs, func(a store.UsageAddress) bool { return !known[a.ClientID] })
		// Insert what is new (DO NOTHING), then add to the rest: of
		// concurrent reports of one new address exactly one inserts it
		// (PostgreSQL waits for the other's commit), so it is audited once.
		isNew := make(map[[2]string]bool)
		if err := inBatches(addrs, func(b []store.UsageAddress) error {
			rows, err := tx.Query(ctx, fmt.Sprintf(insertUsageAddresses, valueRows(len(b), "", "", "", "", "")), s.addressArgs(b)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var k [2]string
				if err := rows.Scan(&k[0], &k[1]); err != nil {
					return err
				}
				isNew[k] = true
			}
			return rows.Err()
		}); err != nil {
			return err
		}
		var old []store.UsageAddress
		for _, a := range addrs {
			if isNew[[2]string{a.ClientID, a.Address}] {
				added = append(added, a)
			} else {
				old = append(old, a)
			}
		}
		if err := inBatches(old, func(b []store.UsageAddress) error {
			_, err := tx.Exec(ctx, fmt.Sprintf(upsertUsageAddresses, valueRows(len(b), "", "", "", "", "")), s.addressArgs(b)...)
			return err
		}); err != nil {
			return err
		}
		if len(added) == 0 {
			return nil
		}
		if newAddress != nil {
			if err := inBatches(added, func(b []store.UsageAddress) error {
				args := make([]any, 0, 5*len(b))
				for _, a := range b {
					args = append(args, AuditArgs(s.db, newAddress(a))...)
				}
				_, err := tx.Exec(ctx, fmt.Sprintf(insertAuditEvents, valueRows(len(b), "", "", "", "", "")), args...)
				return err
			}); err != nil {
				return fmt.Errorf("record audit events: %w", err)
			}
		}
		// Keep the top maxAddresses of each client that got a new one, in
		// one statement for them all.
		grew := make([]string, 0, len(added))
		for _, a := range added {
			if len(grew) == 0 || grew[len(grew)-1] != a.ClientID {
				grew = append(grew, a.ClientID)
			}
		}
		_, err = tx.Exec(ctx, `DELETE FROM usage_addresses WHERE (client_id, address) IN (
			SELECT client_id, address FROM (
				SELECT client_id, address, ROW_NUMBER() OVER (PARTITION BY client_id
					ORDER BY count DESC, last_seen DESC, address`+s.d.Bytewise+`) AS n
				FROM usage_addresses WHERE `+fmt.Sprintf(s.d.ListHas, "$1", "client_id")+`) ranked
			WHERE n > $2)`, s.db.List(grew), max(maxAddresses, 1))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record usage: %w", err)
	}
	return added, nil
}

func (s *Store) addressArgs(addrs []store.UsageAddress) []any {
	args := make([]any, 0, 5*len(addrs))
	for _, a := range addrs {
		args = append(args, a.ClientID, a.Address, a.Count, s.db.Time(a.FirstSeen), s.db.Time(a.LastSeen))
	}
	return args
}

// existingClients returns which of the clients of the rows exist, in one
// statement.
func (s *Store) existingClients(ctx context.Context, tx Tx, calls []store.UsageCalls, tokens []store.UsageTokens, addrs []store.UsageAddress) (map[string]bool, error) {
	seen := make(map[string]bool)
	var ids []string
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, c := range calls {
		add(c.ClientID)
	}
	for _, t := range tokens {
		add(t.ClientID)
	}
	for _, a := range addrs {
		add(a.ClientID)
	}
	known := make(map[string]bool, len(ids))
	if len(ids) == 0 {
		return known, nil
	}
	found, err := queryAll(ctx, s.db, tx, scanString, "SELECT id FROM clients WHERE "+fmt.Sprintf(s.d.ListHas, "$1", "id"), s.db.List(ids))
	for _, id := range found {
		known[id] = true
	}
	return known, err
}

// mergeRows sorts rows by order and folds each run of rows that order
// finds equal into its first with add: one row for each key, as a
// statement may change a row only once.
func mergeRows[T any](rows []T, order func(a, b T) int, add func(into *T, r T)) []T {
	sorted := slices.Clone(rows)
	slices.SortFunc(sorted, order)
	var out []T
	for _, r := range sorted {
		if n := len(out); n > 0 && order(out[n-1], r) == 0 {
			add(&out[n-1], r)
			continue
		}
		out = append(out, r)
	}
	return out
}

// mergeUsageTokens sorts tokens by client and day, one row for each.
func mergeUsageTokens(tokens []store.UsageTokens) []store.UsageTokens {
	return mergeRows(tokens, func(a, b store.UsageTokens) int {
		return cmp.Or(cmp.Compare(a.ClientID, b.ClientID), cmp.Compare(a.Day, b.Day))
	}, func(m *store.UsageTokens, t store.UsageTokens) { m.Count += t.Count })
}

// mergeUsageAddresses sorts addresses by client and address, one row for
// each.
func mergeUsageAddresses(addrs []store.UsageAddress) []store.UsageAddress {
	return mergeRows(addrs, func(a, b store.UsageAddress) int {
		return cmp.Or(cmp.Compare(a.ClientID, b.ClientID), cmp.Compare(a.Address, b.Address))
	}, func(m *store.UsageAddress, a store.UsageAddress) {
		m.Count += a.Count
		if a.FirstSeen.Before(m.FirstSeen) {
			m.FirstSeen = a.FirstSeen
		}
		if a.LastSeen.After(m.LastSeen) {
			m.LastSeen = a.LastSeen
		}
	})
}

// ClientUsage returns the client's stored usage.
func (s *Store) ClientUsage(ctx context.Context, clientID, since string, maxAddresses int) (store.ClientUsage, error) {
	var u store.ClientUsage
	err := s.db.Read(ctx, func(tx Tx) error {
		var one int
		if err := tx.QueryRow(ctx, "SELECT 1 FROM clients WHERE id = $1", clientID).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		var err error
		if u.Calls, err = queryAll(ctx, s.db, tx, ScanUsageCalls, "SELECT "+UsageCallColumns+
			" FROM usage_calls WHERE client_id = $1 AND day >= $2 ORDER BY day"+s.d.Bytewise+" DESC, pattern"+s.d.Bytewise+", outcome"+s.d.Bytewise,
			clientID, since); err != nil {
			return err
		}
		if u.Tokens, err = queryAll(ctx, s.db, tx, ScanUsageTokens, "SELECT "+UsageTokenColumns+
			" FROM usage_tokens WHERE client_id = $1 AND day >= $2 ORDER BY day"+s.d.Bytewise+" DESC",
			clientID, since); err != nil {
			return err
		}
		u.Addresses, err = queryAll(ctx, s.db, tx, ScanUsageAddress, "SELECT "+UsageAddressColumns+
			" FROM usage_addresses WHERE client_id = $1 ORDER BY count DESC, last_seen DESC, address"+s.d.Bytewise+" LIMIT $2",
			clientID, max(maxAddresses, 1))
		return err
	})
	if err != nil {
		return store.ClientUsage{}, fmt.Errorf("usage of client %q: %w", clientID, err)
	}
	return u, nil
}

// PruneUsage deletes the daily usage of days before before.
func (s *Store) PruneUsage(ctx context.Context, before string) error {
	err := s.db.Write(ctx, func(tx Tx) error {
		for _, table := range []string{"usage_calls", "usage_tokens"} {
			if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE day < $1", before); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("prune usage: %w", err)
	}
	return nil
}
