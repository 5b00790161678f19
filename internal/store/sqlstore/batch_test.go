package sqlstore

import (
	"slices"
	"testing"
)

func TestBatchSizes(t *testing.T) {
	for n := range 3*maxBatchRows + 5 {
		sizes := batchSizes(n)
		sum := 0
		for i, s := range sizes {
			sum += s
			// maxBatchRows first, then powers of two, decreasing.
			if s > maxBatchRows || s&(s-1) != 0 || (i > 0 && s > sizes[i-1]) {
				t.Fatalf("batchSizes(%d) = %v", n, sizes)
			}
		}
		if sum != n {
			t.Fatalf("batchSizes(%d) = %v, sums to %d", n, sizes, sum)
		}
	}
	if got := batchSizes(maxBatchRows + 3); !slices.Equal(got, []int{maxBatchRows, 2, 1}) {
		t.Errorf("batchSizes(%d) = %v", maxBatchRows+3, got)
	}
}

func TestValueRows(t *testing.T) {
	if got, want := valueRows(2, "", "BIGINT"), "($1, CAST($2 AS BIGINT)), ($3, CAST($4 AS BIGINT))"; got != want {
		t.Errorf("valueRows = %q, want %q", got, want)
	}
}
