package domain

// ClientStatus is the registry status that decides eligibility for onboarding.
type ClientStatus string

// The client statuses known to the registry. Only ACTIVE clients and
// registered prospects may be onboarded.
const (
	StatusActive   ClientStatus = "ACTIVE"
	StatusBlocked  ClientStatus = "BLOCKED"
	StatusClosed   ClientStatus = "CLOSED"
	StatusProspect ClientStatus = "PROSPECT"
)

// Valid reports whether s is one of the known statuses.
func (s ClientStatus) Valid() bool {
	switch s {
	case StatusActive, StatusBlocked, StatusClosed, StatusProspect:
		return true
	}
	return false
}

// Eligible reports whether a client in this status may be onboarded.
func (s ClientStatus) Eligible() bool { return s == StatusActive || s == StatusProspect }

// Client is a record of the bank's client registry (or a prospect the service
// registered itself). UserID is the identifier handed to the Onboarding
// Server; the other fields are what the decisions compare documents against.
type Client struct {
	UserID         string
	ClientNumber   string
	BirthDate      Date
	GivenNames     string
	Surname        string
	PersonalNumber string // normalised, see NormalizePersonalNumber
	Phone          string // E.164, empty when the registry has none
	Nationality    string // ISO 3166-1 alpha-3
	Status         ClientStatus
}
