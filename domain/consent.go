package domain

import "time"

// ConsentText is one published version of the HTML a user is asked to
// approve. Texts are immutable: a change is a new version.
type ConsentText struct {
	Type        string
	Language    string // ISO 639-1
	Version     int
	HTML        string
	SHA256      string // hex digest of HTML, recorded with each consent
	PublishedAt time.Time
}

// ConsentRecord is one row of the append-only consent ledger: what a user
// decided, about which text version, and through which request.
type ConsentRecord struct {
	ID          int64
	ProcessID   string
	UserID      string
	ConsentType string
	Approved    bool
	Language    string
	TextVersion int
	TextSHA256  string
	// TextServed is true when Language, TextVersion and TextSHA256 are those
	// of the text last served to the process, the one the user was shown;
	// false when no serving was found and they name the text current in the
	// default language when the consent was stored. A serving is a hint
	// that a crash or another replica's delay can lose, so compliance must
	// be able to tell an inferred text from a served one. A record stored
	// before the PostgreSQL ledger kept this (migration 009; the column is
	// NULL there: unknown) reads back as false.
	TextServed    bool
	Seq           int // 1 for the first decision of (process, user, type), +1 per change
	RequestID     string
	CorrelationID string
	RecordedAt    time.Time
}

// ConsentServing remembers which text version was served to a process, so
// the stored consent names the text the user actually saw.
type ConsentServing struct {
	ProcessID   string
	ConsentType string
	Language    string
	Version     int
	SHA256      string
	ServedAt    time.Time
}
