package httptransport

import (
	"strconv"
	"unicode/utf8"
)

// Length limits of the request fields, in characters. The contract sets
// none, but every value ends up in a log line, a span attribute, an index
// or a comparison, and PostgreSQL refuses an index entry over about 2.7 kB:
// without a bound a 1 MB processId (still under the 10 MiB body limit of
// /client/approve) becomes a 500 from the database instead of a 400 naming
// the field. The bounds are far above anything a real caller sends.
const (
	// maxIDChars bounds identifiers: processId, userId,
	// identityVerificationId, verificationId, processType.
	maxIDChars = 128
	// maxNameChars bounds names and free text from documents: given names,
	// surname, place of birth, authority, provider.
	maxNameChars = 256
	// maxCodeChars bounds codes and enumerations: status, type, otpType,
	// consentType, language, locale, sex, nationality, dates, document and
	// personal numbers, the OTP code (the service narrows it further).
	maxCodeChars = 64
	// maxIdentificationKeyChars and maxIdentificationValueChars bound the
	// free-form identification map of /user/lookup.
	maxIdentificationKeyChars   = 64
	maxIdentificationValueChars = 256
	// maxDocuments and maxDocumentImages bound the arrays of
	// /client/evaluate: an ID card has two sides and a face, a passport one
	// page; 32 leaves room for any provider.
	maxDocuments      = 32
	maxDocumentImages = 32
)

// evaluateArrays are the path rules of /client/evaluate: its array limits,
// checked before any element is decoded, and the provider's rawData,
// free-form.
var evaluateArrays = []pathRule{
	newArrayLimit("documentCheckResult.documents", maxDocuments),
	newArrayLimit("documentCheckResult.documents.images", maxDocumentImages),
	newFreeForm("documentCheckResult.documents[].rawData"),
}

// lookupPaths and eventPaths are the free-form values of /user/lookup and
// /process/event.
var (
	lookupPaths = []pathRule{newFreeForm("identification")}
	eventPaths  = []pathRule{newFreeForm("data"), newFreeForm("eventData")}
)

// field is one string of a request with its JSON path and limit.
type field struct {
	path  string
	value string
	max   int
}

// checkLengths returns a 400 naming the first field longer than its limit,
// with prefix (e.g. "documentCheckResult.documents[1].data.") before its
// path. Byte length is checked first, so the common case costs no rune
// count.
func checkLengths(prefix string, fields ...field) error {
	for _, f := range fields {
		if len(f.value) > f.max && utf8.RuneCountInString(f.value) > f.max {
			return fieldError(prefix+f.path, "must be at most "+strconv.Itoa(f.max)+" characters")
		}
	}
	return nil
}
