package sqlstore

import (
	"strconv"
	"strings"
)

// Multi-row statements: writes of many rows (usage records, secrets'
// last-use times) carry up to maxBatchRows rows a statement rather than
// one, which is most of their cost on SQLite.

// maxBatchRows is the most rows one multi-row statement carries. More
// would not pay: the SQLite driver looks each parameter up by number in a
// list, so binding costs grow with the square of a statement's parameters
// (at 256 rows of 5 that lookup was a third of a usage write).
const maxBatchRows = 32

// batchSizes splits n rows into the row counts of the statements that
// carry them: maxBatchRows at a time, then powers of two, so that the
// statements have few distinct texts (each prepared once and cached).
func batchSizes(n int) []int {
	var sizes []int
	for ; n >= maxBatchRows; n -= maxBatchRows {
		sizes = append(sizes, maxBatchRows)
	}
	for size := maxBatchRows / 2; n > 0; size /= 2 {
		if n >= size {
			sizes = append(sizes, size)
			n -= size
		}
	}
	return sizes
}

// inBatches calls fn with consecutive batches of items, of batchSizes.
func inBatches[T any](items []T, fn func(batch []T) error) error {
	for _, size := range batchSizes(len(items)) {
		if err := fn(items[:size]); err != nil {
			return err
		}
		items = items[size:]
	}
	return nil
}

// valueRows returns rows rows of VALUES of len(types) parameters each,
// numbered from $1: "($1, $2), ($3, $4)". A non-empty types[i] casts
// column i's parameters to that type (CAST($n AS type)), which
// PostgreSQL needs where nothing else says a parameter's type.
func valueRows(rows int, types ...string) string {
	var b strings.Builder
	n := 0
	for r := range rows {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i, t := range types {
			if i > 0 {
				b.WriteString(", ")
			}
			n++
			p := "$" + strconv.Itoa(n)
			if t != "" {
				p = "CAST(" + p + " AS " + t + ")"
			}
			b.WriteString(p)
		}
		b.WriteByte(')')
	}
	return b.String()
}
