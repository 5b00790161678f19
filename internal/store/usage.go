package store

import (
	"context"
	"time"
)

// Usage per credential: what gateways report of each client's calls, the
// tokens issued to it and where it authenticated from, kept per day.

// UsageAllowed is the outcome of an allowed call in UsageCalls.Outcome;
// any other outcome is the reason a call was denied.
const UsageAllowed = "allowed"

// UsageCalls counts the calls of one client to one endpoint pattern (the
// catalog pattern that allowed the call, or that matched a denied one) on
// one day with one outcome.
type UsageCalls struct {
	ClientID string
	Day      string // UTC, YYYY-MM-DD
	Pattern  string
	Outcome  string // UsageAllowed, or the reason for a denial
	Count    int64
	LastSeen time.Time
}

// UsageTokens counts the access tokens issued to a client on a day.
type UsageTokens struct {
	ClientID string
	Day      string // UTC, YYYY-MM-DD
	Count    int64
}

// UsageAddress is a source address a client authenticated from.
type UsageAddress struct {
	ClientID  string
	Address   string
	Count     int64
	FirstSeen time.Time
	LastSeen  time.Time
}

// UsageReport is usage to add to the stored totals (RecordUsage).
type UsageReport struct {
	Calls     []UsageCalls
	Tokens    []UsageTokens
	Addresses []UsageAddress
}

// ClientUsage is one client's stored usage (UsageStore.ClientUsage).
type ClientUsage struct {
	Calls     []UsageCalls   // by day (newest first), pattern, outcome
	Tokens    []UsageTokens  // by day, newest first
	Addresses []UsageAddress // by count (highest first), then last seen (latest first)
}

// UsageStore keeps usage per credential; part of Store.
type UsageStore interface {
	// RecordUsage adds r to the stored totals in one transaction: counts
	// add up, last-seen times only move forward, first-seen times stay.
	// Entries of clients that do not exist are ignored. For each address
	// new to its client it records the event newAddress returns; then a
	// client keeps only its maxAddresses addresses with the highest
	// counts (then the latest), so an address dropped that way is new
	// again when next seen. It returns the new addresses.
	RecordUsage(ctx context.Context, r UsageReport, maxAddresses int, newAddress func(UsageAddress) AuditEvent) ([]UsageAddress, error)
	// ClientUsage returns the client's calls and tokens of the days from
	// since (YYYY-MM-DD) on and its maxAddresses addresses with the
	// highest counts. ErrNotFound if there is no such client.
	ClientUsage(ctx context.Context, clientID, since string, maxAddresses int) (ClientUsage, error)
	// PruneUsage deletes the calls and tokens of days before day
	// (YYYY-MM-DD).
	PruneUsage(ctx context.Context, before string) error
}
