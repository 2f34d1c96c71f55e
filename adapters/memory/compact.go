package memory

// compactSlack is how many deletions a map takes beyond twice its size
// before it is rebuilt, so a small map is not rebuilt on every few deletions.
const compactSlack = 1024

// churn counts the deletions from one map since it was last rebuilt.
//
// The stores here are bounded: once full, every new entry deletes the
// oldest. Go's maps never shrink (golang/go#20135), and under one deletion
// per insertion a map settles at several times the memory of a freshly
// built one holding the same entries (the growth golang/go#70886 reported
// for Swiss tables; measured with Go 1.26.11, a 10,000-entry map of
// 40-byte entries held 331 bytes per entry after a million such rounds, 95
// when rebuilt). So each bounded map of these stores counts its deletions
// and is rebuilt at its size by compact once they exceed twice its size:
// copying n entries every 2n deletions is a constant cost per deletion,
// paid as one pause under the store's lock (BenchmarkCompact: about 10 ms
// for the OTP guard's 50,000 processes, once every 101,000 sends).
type churn struct{ deletes int }

// remove deletes k from m and counts the deletion in c, so a bounded map
// never loses an entry without compact knowing.
func remove[M ~map[K]V, K comparable, V any](m M, k K, c *churn) {
	delete(m, k)
	c.deletes++
}

// compact returns m rebuilt without its dead slots when c has counted more
// than twice len(m) deletions (plus compactSlack) since the last rebuild,
// and m itself otherwise. The caller holds the lock guarding m and stores
// the result in place of m; it must not be ranging over m.
func compact[M ~map[K]V, K comparable, V any](m M, c *churn) M {
	if c.deletes <= 2*len(m)+compactSlack {
		return m
	}
	c.deletes = 0
	fresh := make(M, len(m))
	for k, v := range m {
		fresh[k] = v
	}
	return fresh
}
