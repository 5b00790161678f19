package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
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
	upsertUsageTokens = "INSERT INTO usage_tokens (" + UsageTokenColumns + ") " + Values(UsageTokenColumns) +
		" ON CONFLICT (client_id, day) DO UPDATE SET count = usage_tokens.count + excluded.count"
	insertUsageAddress = "INSERT INTO usage_addresses (" + UsageAddressColumns + ") " + Values(UsageAddressColumns) +
		" ON CONFLICT (client_id, address) DO NOTHING"
)

// RecordUsage adds r to the stored totals. Clients are visited in ID
// order, the order in which lockClient locks client rows.
func (s *Store) RecordUsage(ctx context.Context, r store.UsageReport, maxAddresses int, newAddress func(store.UsageAddress) store.AuditEvent) ([]store.UsageAddress, error) {
	calls := slices.Clone(r.Calls)
	slices.SortFunc(calls, func(a, b store.UsageCalls) int { return cmp.Compare(a.ClientID, b.ClientID) })
	addrs := slices.Clone(r.Addresses)
	slices.SortFunc(addrs, func(a, b store.UsageAddress) int { return cmp.Compare(a.ClientID, b.ClientID) })
	var added []store.UsageAddress
	err := s.db.Write(ctx, func(tx Tx) error {
		added = added[:0]
		exists := make(map[string]bool)
		known := func(id string) (bool, error) {
			if ok, seen := exists[id]; seen {
				return ok, nil
			}
			var one int
			err := tx.QueryRow(ctx, "SELECT 1 FROM clients WHERE id = $1", id).Scan(&one)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return false, err
			}
			exists[id] = err == nil
			return err == nil, nil
		}
		for _, c := range calls {
			if ok, err := known(c.ClientID); err != nil || !ok {
				if err != nil {
					return err
				}
				continue
			}
			if _, err := tx.Exec(ctx, upsertUsageCalls, c.ClientID, c.Day, c.Pattern, c.Outcome, c.Count, s.db.Time(c.LastSeen)); err != nil {
				return err
			}
		}
		for _, t := range r.Tokens {
			if ok, err := known(t.ClientID); err != nil || !ok {
				if err != nil {
					return err
				}
				continue
			}
			if _, err := tx.Exec(ctx, upsertUsageTokens, t.ClientID, t.Day, t.Count); err != nil {
				return err
			}
		}
		grew := make(map[string]bool)
		for _, a := range addrs {
			if ok, err := known(a.ClientID); err != nil || !ok {
				if err != nil {
					return err
				}
				continue
			}
			// DO NOTHING, then UPDATE: of concurrent reports of one new
			// address exactly one inserts it (PostgreSQL waits for the
			// other's commit), so it is audited once.
			n, err := tx.Exec(ctx, insertUsageAddress, a.ClientID, a.Address, a.Count, s.db.Time(a.FirstSeen), s.db.Time(a.LastSeen))
			if err != nil {
				return err
			}
			if n == 0 {
				if _, err := tx.Exec(ctx, `UPDATE usage_addresses SET count = count + $3,
					last_seen = CASE WHEN $4 > last_seen THEN $4 ELSE last_seen END
					WHERE client_id = $1 AND address = $2`, a.ClientID, a.Address, a.Count, s.db.At(a.LastSeen)); err != nil {
					return err
				}
				continue
			}
			added = append(added, a)
			grew[a.ClientID] = true
			if newAddress != nil {
				if err := s.addAudit(ctx, tx, newAddress(a)); err != nil {
					return err
				}
			}
		}
		for _, id := range slices.Sorted(maps.Keys(grew)) {
			if _, err := tx.Exec(ctx, `DELETE FROM usage_addresses WHERE client_id = $1 AND address NOT IN (
				SELECT address FROM usage_addresses WHERE client_id = $1
				ORDER BY count DESC, last_seen DESC, address`+s.d.Bytewise+` LIMIT $2)`, id, max(maxAddresses, 1)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record usage: %w", err)
	}
	return added, nil
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
