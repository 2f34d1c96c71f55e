package memory

// compactSlack is how many deletions a map takes beyond a quarter of its
// size before it is rebuilt, so a small map is not rebuilt on every few
// deletions.
const compactSlack = 1024

// rebuildAfter is how many deletions a map of n entries takes before
// compact rebuilds it: a quarter of n (plus compactSlack). Swiss tables
// split their full tables as tombstones use up their room, so the memory of
// a churned map climbs soon after each rebuild; measured on the OTP guard
// at its 50,000-process cap over 400,000 sends, the most live heap was 11.4
// MB with a rebuild every 2n deletions, 9.4 MB every n/2 and 7.7 MB every
// n/4, against 7.4 MB freshly built. A smaller fraction buys little more.
func rebuildAfter(n int) int { return n/4 + compactSlack }

// churn counts the deletions from one map since it was last rebuilt.
//
// The stores here are bounded: once full, every new entry deletes the
// oldest. Go's maps never shrink (golang/go#20135), and under one deletion
// per insertion a map settles at several times the memory of a freshly
// built one holding the same entries (the growth golang/go#70886 reported
// for Swiss tables; measured with Go 1.26.11, a 10,000-entry map of
// 40-byte entries held 331 bytes per entry after a million such rounds, 95
// when rebuilt). So each bounded map of these stores counts its deletions
// and is rebuilt at its size by compact once they exceed rebuildAfter its
// size: copying n entries every n/4 deletions is a constant cost per
// deletion (four entries copied, under a microsecond), paid as one pause
// under the store's lock (BenchmarkCompact: 3-11 ms for the OTP guard's
// 50,000 processes, once every 13,525 sends; its 10,000 dedupe keys every
// 3,525).
type churn struct{ deletes int }

// remove deletes k from m and counts the deletion in c, so a bounded map
// never loses an entry without compact knowing.
func remove[M ~map[K]V, K comparable, V any](m M, k K, c *churn) {
	delete(m, k)
	c.deletes++
}

// compact returns m rebuilt without its dead slots when c has counted more
// than rebuildAfter(len(m)) deletions since the last rebuild,
// and m itself otherwise. The caller holds the lock guarding m and stores
// the result in place of m; it must not be ranging over m.
func compact[M ~map[K]V, K comparable, V any](m M, c *churn) M {
	if c.deletes <= rebuildAfter(len(m)) {
		return m
	}
	c.deletes = 0
	fresh := make(M, len(m))
	for k, v := range m {
		fresh[k] = v
	}
	return fresh
}
