package postgres

import (
	"strings"
	"testing"
)

// appendSQL names the latest record's columns through the alias l; the
// list must stay ledgerColumns, in its order, or the scan misreads them.
func TestLatestLedgerColumnsQualifyLedgerColumns(t *testing.T) {
	fields := func(s string) []string {
		var out []string
		for c := range strings.SplitSeq(s, ",") {
			out = append(out, strings.TrimSpace(c))
		}
		return out
	}
	plain, latest := fields(ledgerColumns), fields(latestLedgerColumns)
	if len(plain) != len(latest) {
		t.Fatalf("%d columns against %d", len(latest), len(plain))
	}
	for i := range plain {
		if latest[i] != "l."+plain[i] {
			t.Errorf("column %d: %q, want l.%s", i, latest[i], plain[i])
		}
	}
}
