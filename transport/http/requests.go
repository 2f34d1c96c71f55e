package httptransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/bankkit/onboarding-adapter/domain"
	"github.com/bankkit/onboarding-adapter/ports"
)

// Request DTOs: the wire shapes of the contract, with explicit converters to
// the ports types. Only JSON types and the few fields no decision can do
// without are checked here; the services validate values.

// lookupRequest is the body of POST /user/lookup.
type lookupRequest struct {
	ProcessID      string         `json:"processId"`
	ProcessType    string         `json:"processType"`
	Identification identification `json:"identification"`
}

var lookupFields = fieldNames{"processId", "processType", "identification"}

func (d *lookupRequest) readJSON(dec *jsonDecoder) error {
	return dec.readFields(lookupFields, func(field string) error {
		switch field {
		case "processId":
			return dec.readString(&d.ProcessID)
		case "processType":
			return dec.readString(&d.ProcessType)
		case "identification":
			return dec.readIdentification(&d.Identification)
		}
		return dec.skip()
	})
}

func (d lookupRequest) toPorts(meta domain.RequestMeta) (ports.LookupRequest, error) {
	if err := checkLengths("", field{"processId", d.ProcessID, maxIDChars}, field{"processType", d.ProcessType, maxIDChars}); err != nil {
		return ports.LookupRequest{}, err
	}
	if d.Identification.problem != "" {
		return ports.LookupRequest{}, fieldError("identification", d.Identification.problem)
	}
	return ports.LookupRequest{
		ProcessID:      d.ProcessID,
		ProcessType:    d.ProcessType,
		Identification: d.Identification.values,
		Meta:           meta,
	}, nil
}

// decodeLookupRequest is the go-kit decoder of /user/lookup.
func decodeLookupRequest(ctx context.Context, r *http.Request) (any, error) {
	var d lookupRequest
	if err := decodeJSON(ctx, r, &d, lookupPaths...); err != nil {
		return nil, err
	}
	noteProcessID(ctx, d.ProcessID)
	return d.toPorts(metaFrom(ctx))
}

// approveRequest is the body of POST /client/approve.
type approveRequest struct {
	ProcessID              string               `json:"processId"`
	ProcessType            string               `json:"processType"`
	UserID                 string               `json:"userId"`
	IdentityVerificationID string               `json:"identityVerificationId"`
	Provider               string               `json:"provider"`
	Status                 string               `json:"status"`
	Score                  *float64             `json:"score"`
	PresenceCheckResult    *presenceCheckResult `json:"presenceCheckResult"`
}

var approveFields = fieldNames{"processId", "processType", "userId", "identityVerificationId", "provider", "status", "score", "presenceCheckResult"}

func (d *approveRequest) readJSON(dec *jsonDecoder) error {
	return dec.readFields(approveFields, func(field string) error {
		switch field {
		case "processId":
			return dec.readString(&d.ProcessID)
		case "processType":
			return dec.readString(&d.ProcessType)
		case "userId":
			return dec.readString(&d.UserID)
		case "identityVerificationId":
			return dec.readString(&d.IdentityVerificationID)
		case "provider":
			return dec.readString(&d.Provider)
		case "status":
			return dec.readString(&d.Status)
		case "score":
			return dec.readFloat(&d.Score)
		case "presenceCheckResult":
			return readStructPtr(dec, &d.PresenceCheckResult)
		}
		return dec.skip()
	})
}

type presenceCheckResult struct {
	Frame base64Image `json:"frame"`
}

var presenceCheckFields = fieldNames{"frame"}

func (p *presenceCheckResult) readJSON(dec *jsonDecoder) error {
	return dec.readFields(presenceCheckFields, func(string) error {
		return dec.readImage(&p.Frame)
	})
}

// frameKind is the image kind of the presence-check frame.
const frameKind = "FRAME"

func (d approveRequest) toPorts(meta domain.RequestMeta) (ports.ApprovalRequest, error) {
	if err := checkLengths("",
		field{"processId", d.ProcessID, maxIDChars}, field{"processType", d.ProcessType, maxIDChars},
		field{"userId", d.UserID, maxIDChars}, field{"identityVerificationId", d.IdentityVerificationID, maxIDChars},
		field{"provider", d.Provider, maxNameChars}, field{"status", d.Status, maxCodeChars},
	); err != nil {
		return ports.ApprovalRequest{}, err
	}
	req := ports.ApprovalRequest{
		ProcessID:              d.ProcessID,
		ProcessType:            d.ProcessType,
		UserID:                 d.UserID,
		IdentityVerificationID: d.IdentityVerificationID,
		Provider:               d.Provider,
		Status:                 d.Status,
		Score:                  d.Score,
		Meta:                   meta,
	}
	if d.PresenceCheckResult != nil {
		img, ok, err := toImage(framePath, frameKind, d.PresenceCheckResult.Frame)
		if err != nil {
			return ports.ApprovalRequest{}, err
		}
		if ok {
			req.Frame = &img
		}
	}
	return req, nil
}

// decodeApproveRequest is the go-kit decoder of /client/approve.
func decodeApproveRequest(ctx context.Context, r *http.Request) (any, error) {
	var d approveRequest
	err := decodeJSON(ctx, r, &d)
	var frame *[]byte
	if d.PresenceCheckResult != nil {
		frame = d.PresenceCheckResult.Frame.buf
	}
	if err != nil {
		bodyBuffers.put(frame) // nothing refers to it
		return nil, err
	}
	noteProcessID(ctx, d.ProcessID)
	req, err := d.toPorts(metaFrom(ctx))
	if err != nil {
		bodyBuffers.put(frame)
		return nil, err
	}
	keepUntilAnswered(ctx, frame)
	return req, nil
}

func framePath() string { return "presenceCheckResult.frame" }

// toImage checks a decoded image; ok is false when none was sent. path
// gives the field's JSON path, built only for an error.
func toImage(path func() string, kind string, im base64Image) (img domain.Image, ok bool, err error) {
	if im.problem != "" {
		return domain.Image{}, false, fieldError(path(), im.problem)
	}
	if !im.present() {
		return domain.Image{}, false, nil
	}
	if im.digestOnly {
		img = im.image
		img.Kind = kind
		return img, true, nil
	}
	img, err = domain.NewImage(kind, im.data)
	if errors.Is(err, domain.ErrNotAnImage) {
		return domain.Image{}, false, fieldError(path(), errNotAnImage)
	}
	if err != nil {
		return domain.Image{}, false, fmt.Errorf("image %s: %w", path(), err)
	}
	return img, true, nil
}

// evaluateRequest is the body of POST /client/evaluate. Older Onboarding
// Servers send verificationId instead of identityVerificationId, no
// documentCheckResult, and optionally extractedData (provider-specific JSON
// strings), which is ignored like any unknown field.
type evaluateRequest struct {
	ProcessID              string               `json:"processId"`
	ProcessType            string               `json:"processType"`
	UserID                 string               `json:"userId"`
	IdentityVerificationID string               `json:"identityVerificationId"`
	VerificationID         string               `json:"verificationId"`
	Provider               string               `json:"provider"`
	Status                 string               `json:"status"`
	Score                  *float64             `json:"score"`
	DocumentCheckResult    *documentCheckResult `json:"documentCheckResult"`
}

var evaluateFields = fieldNames{"processId", "processType", "userId", "identityVerificationId", "verificationId", "provider", "status", "score", "documentCheckResult"}

func (d *evaluateRequest) readJSON(dec *jsonDecoder) error {
	return dec.readFields(evaluateFields, func(field string) error {
		switch field {
		case "processId":
			return dec.readString(&d.ProcessID)
		case "processType":
			return dec.readString(&d.ProcessType)
		case "userId":
			return dec.readString(&d.UserID)
		case "identityVerificationId":
			return dec.readString(&d.IdentityVerificationID)
		case "verificationId":
			return dec.readString(&d.VerificationID)
		case "provider":
			return dec.readString(&d.Provider)
		case "status":
			return dec.readString(&d.Status)
		case "score":
			return dec.readFloat(&d.Score)
		case "documentCheckResult":
			return readStructPtr(dec, &d.DocumentCheckResult)
		}
		return dec.skip()
	})
}

type documentCheckResult struct {
	Documents []document `json:"documents"`
}

var documentCheckFields = fieldNames{"documents"}

// readJSON reads the documents, at most maxDocuments: the limit is checked
// whatever the letter case of the keys that led here.
func (r *documentCheckResult) readJSON(dec *jsonDecoder) error {
	return dec.readFields(documentCheckFields, func(string) error {
		return readSlice(dec, &r.Documents, maxDocuments, evaluateArrays[0].path)
	})
}

// document is one checked document; its rawData (the provider's complete
// answer) is deliberately not declared, so it is skipped without being
// copied (as free-form: see beginObject).
type document struct {
	Type   string          `json:"type"`
	Status string          `json:"status"`
	Data   documentFields  `json:"data"`
	Images []documentImage `json:"images"`
}

var documentFieldNames = fieldNames{"type", "status", "data", "images", "rawData"}

func (doc *document) readJSON(dec *jsonDecoder) error {
	return dec.readFields(documentFieldNames, func(field string) error {
		switch field {
		case "type":
			return dec.readString(&doc.Type)
		case "status":
			return dec.readString(&doc.Status)
		case "data":
			return dec.readStruct(&doc.Data)
		case "images":
			return readSlice(dec, &doc.Images, maxDocumentImages, evaluateArrays[1].path)
		case "rawData":
			return dec.skipFree()
		}
		return dec.skip()
	})
}

type documentFields struct {
	GivenNames     string `json:"givenNames"`
	Surname        string `json:"surname"`
	DateOfBirth    string `json:"dateOfBirth"`
	PlaceOfBirth   string `json:"placeOfBirth"`
	Sex            string `json:"sex"`
	Nationality    string `json:"nationality"`
	PersonalNumber string `json:"personalNumber"`
	DocumentNumber string `json:"documentNumber"`
	DateOfIssue    string `json:"dateOfIssue"`
	DateOfExpiry   string `json:"dateOfExpiry"`
	Authority      string `json:"authority"`
}

var documentDataFields = fieldNames{"givenNames", "surname", "dateOfBirth", "placeOfBirth", "sex", "nationality",
	"personalNumber", "documentNumber", "dateOfIssue", "dateOfExpiry", "authority"}

func (f *documentFields) readJSON(dec *jsonDecoder) error {
	return dec.readFields(documentDataFields, func(field string) error {
		var dst *string
		switch field {
		case "givenNames":
			dst = &f.GivenNames
		case "surname":
			dst = &f.Surname
		case "dateOfBirth":
			dst = &f.DateOfBirth
		case "placeOfBirth":
			dst = &f.PlaceOfBirth
		case "sex":
			dst = &f.Sex
		case "nationality":
			dst = &f.Nationality
		case "personalNumber":
			dst = &f.PersonalNumber
		case "documentNumber":
			dst = &f.DocumentNumber
		case "dateOfIssue":
			dst = &f.DateOfIssue
		case "dateOfExpiry":
			dst = &f.DateOfExpiry
		case "authority":
			dst = &f.Authority
		default:
			return dec.skip()
		}
		return dec.readString(dst)
	})
}

type documentImage struct {
	Type string      `json:"type"`
	Data base64Image `json:"data"`
}

var documentImageFields = fieldNames{"type", "data"}

func (im *documentImage) readJSON(dec *jsonDecoder) error {
	return dec.readFields(documentImageFields, func(field string) error {
		switch field {
		case "type":
			return dec.readString(&im.Type)
		case "data":
			// Only the digest of a document's image is recorded
			// (evaluation.parseDocuments): its bytes are not kept.
			im.Data.digestOnly = true
			return dec.readImage(&im.Data)
		}
		return dec.skip()
	})
}

func (d evaluateRequest) toPorts(meta domain.RequestMeta) (ports.EvaluationRequest, error) {
	if err := checkLengths("",
		field{"processId", d.ProcessID, maxIDChars}, field{"processType", d.ProcessType, maxIDChars},
		field{"userId", d.UserID, maxIDChars}, field{"identityVerificationId", d.IdentityVerificationID, maxIDChars},
		field{"verificationId", d.VerificationID, maxIDChars},
		field{"provider", d.Provider, maxNameChars}, field{"status", d.Status, maxCodeChars},
	); err != nil {
		return ports.EvaluationRequest{}, err
	}
	req := ports.EvaluationRequest{
		ProcessID:              d.ProcessID,
		ProcessType:            d.ProcessType,
		UserID:                 d.UserID,
		IdentityVerificationID: d.IdentityVerificationID,
		Provider:               d.Provider,
		Status:                 d.Status,
		Score:                  d.Score,
		HasDocumentCheck:       d.DocumentCheckResult != nil,
		Meta:                   meta,
	}
	if req.IdentityVerificationID == "" {
		req.IdentityVerificationID = d.VerificationID
	}
	if d.DocumentCheckResult == nil {
		return req, nil
	}
	req.Documents = make([]ports.DocumentInput, 0, len(d.DocumentCheckResult.Documents))
	for i, doc := range d.DocumentCheckResult.Documents {
		if err := doc.checkLengths(i); err != nil {
			return ports.EvaluationRequest{}, err
		}
		in := ports.DocumentInput{
			Type:   doc.Type,
			Status: doc.Status,
			Data:   ports.DocumentFields(doc.Data),
		}
		for j, im := range doc.Images {
			if len(im.Type) > maxCodeChars {
				if err := checkLengths(fmt.Sprintf("documentCheckResult.documents[%d].images[%d].", i, j), field{"type", im.Type, maxCodeChars}); err != nil {
					return ports.EvaluationRequest{}, err
				}
			}
			path := func() string { return fmt.Sprintf("documentCheckResult.documents[%d].images[%d].data", i, j) }
			img, ok, err := toImage(path, im.Type, im.Data)
			if err != nil {
				return ports.EvaluationRequest{}, err
			}
			if ok {
				in.Images = append(in.Images, img)
			}
		}
		req.Documents = append(req.Documents, in)
	}
	return req, nil
}

// checkLengths bounds the document's strings; the path prefix is built
// only when one is too long.
func (doc document) checkLengths(i int) error {
	f := doc.Data
	fields := [...]field{
		{"type", doc.Type, maxCodeChars}, {"status", doc.Status, maxCodeChars},
		{"data.givenNames", f.GivenNames, maxNameChars}, {"data.surname", f.Surname, maxNameChars},
		{"data.placeOfBirth", f.PlaceOfBirth, maxNameChars}, {"data.authority", f.Authority, maxNameChars},
		{"data.dateOfBirth", f.DateOfBirth, maxCodeChars}, {"data.sex", f.Sex, maxCodeChars},
		{"data.nationality", f.Nationality, maxCodeChars}, {"data.personalNumber", f.PersonalNumber, maxCodeChars},
		{"data.documentNumber", f.DocumentNumber, maxCodeChars}, {"data.dateOfIssue", f.DateOfIssue, maxCodeChars},
		{"data.dateOfExpiry", f.DateOfExpiry, maxCodeChars},
	}
	if checkLengths("", fields[:]...) == nil {
		return nil
	}
	return checkLengths(fmt.Sprintf("documentCheckResult.documents[%d].", i), fields[:]...)
}

// decodeEvaluateRequest is the go-kit decoder of /client/evaluate.
func decodeEvaluateRequest(ctx context.Context, r *http.Request) (any, error) {
	var d evaluateRequest
	if err := decodeJSON(ctx, r, &d, evaluateArrays...); err != nil {
		return nil, err
	}
	noteProcessID(ctx, d.ProcessID)
	return d.toPorts(metaFrom(ctx))
}

// otpSendRequest is the body of POST /otp/send. OTPCode is a secret.
type otpSendRequest struct {
	ProcessID   string `json:"processId"`
	ProcessType string `json:"processType"`
	UserID      string `json:"userId"`
	Language    string `json:"language"`
	OTPCode     string `json:"otpCode"`
	OTPType     string `json:"otpType"`
	Resend      *bool  `json:"resend"`
}

var otpSendFields = fieldNames{"processId", "processType", "userId", "language", "otpCode", "otpType", "resend"}

func (d *otpSendRequest) readJSON(dec *jsonDecoder) error {
	return dec.readFields(otpSendFields, func(field string) error {
		switch field {
		case "processId":
			return dec.readString(&d.ProcessID)
		case "processType":
			return dec.readString(&d.ProcessType)
		case "userId":
			return dec.readString(&d.UserID)
		case "language":
			return dec.readString(&d.Language)
		case "otpCode":
			return dec.readString(&d.OTPCode)
		case "otpType":
			return dec.readString(&d.OTPType)
		case "resend":
			return dec.readBool(&d.Resend)
		}
		return dec.skip()
	})
}

// LogValue keeps the code out of any log the DTO reaches by mistake.
func (d otpSendRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("processId", d.ProcessID), slog.String("otpType", d.OTPType))
}

func (d otpSendRequest) toPorts(meta domain.RequestMeta) (ports.OTPRequest, error) {
	if err := checkLengths("",
		field{"processId", d.ProcessID, maxIDChars}, field{"processType", d.ProcessType, maxIDChars},
		field{"userId", d.UserID, maxIDChars}, field{"language", d.Language, maxCodeChars},
		field{"otpCode", d.OTPCode, maxCodeChars}, field{"otpType", d.OTPType, maxCodeChars},
	); err != nil {
		return ports.OTPRequest{}, err
	}
	return ports.OTPRequest{
		ProcessID:   d.ProcessID,
		ProcessType: d.ProcessType,
		UserID:      d.UserID,
		Language:    d.Language,
		Code:        d.OTPCode,
		Type:        domain.OTPType(d.OTPType),
		Resend:      d.Resend != nil && *d.Resend,
		Meta:        meta,
	}, nil
}

// decodeOTPSendRequest is the go-kit decoder of /otp/send.
func decodeOTPSendRequest(ctx context.Context, r *http.Request) (any, error) {
	var d otpSendRequest
	if err := decodeJSON(ctx, r, &d); err != nil {
		return nil, err
	}
	noteProcessID(ctx, d.ProcessID)
	return d.toPorts(metaFrom(ctx))
}

// consentStorageRequest is the body of POST /consent/storage. approved is
// the one field the transport requires: defaulting a missing decision to
// false (or true) would record a consent nobody gave.
type consentStorageRequest struct {
	ProcessID   string `json:"processId"`
	ProcessType string `json:"processType"`
	UserID      string `json:"userId"`
	ConsentType string `json:"consentType"`
	Approved    *bool  `json:"approved"`
}

var consentStorageFields = fieldNames{"processId", "processType", "userId", "consentType", "approved"}

func (d *consentStorageRequest) readJSON(dec *jsonDecoder) error {
	return dec.readFields(consentStorageFields, func(field string) error {
		switch field {
		case "processId":
			return dec.readString(&d.ProcessID)
		case "processType":
			return dec.readString(&d.ProcessType)
		case "userId":
			return dec.readString(&d.UserID)
		case "consentType":
			return dec.readString(&d.ConsentType)
		case "approved":
			return dec.readBool(&d.Approved)
		}
		return dec.skip()
	})
}

func (d consentStorageRequest) toPorts(meta domain.RequestMeta) (ports.ConsentStorageRequest, error) {
	if err := checkLengths("",
		field{"processId", d.ProcessID, maxIDChars}, field{"processType", d.ProcessType, maxIDChars},
		field{"userId", d.UserID, maxIDChars}, field{"consentType", d.ConsentType, maxCodeChars},
	); err != nil {
		return ports.ConsentStorageRequest{}, err
	}
	if d.Approved == nil {
		return ports.ConsentStorageRequest{}, fieldError("approved", "is required (true or false)")
	}
	return ports.ConsentStorageRequest{
		ProcessID:   d.ProcessID,
		ProcessType: d.ProcessType,
		UserID:      d.UserID,
		ConsentType: d.ConsentType,
		Approved:    *d.Approved,
		Meta:        meta,
	}, nil
}

// decodeConsentStorageRequest is the go-kit decoder of /consent/storage.
func decodeConsentStorageRequest(ctx context.Context, r *http.Request) (any, error) {
	var d consentStorageRequest
	if err := decodeJSON(ctx, r, &d); err != nil {
		return nil, err
	}
	noteProcessID(ctx, d.ProcessID)
	return d.toPorts(metaFrom(ctx))
}

// consentTextRequest is the body of POST /consent/text.
type consentTextRequest struct {
	ProcessID   string `json:"processId"`
	ProcessType string `json:"processType"`
	UserID      string `json:"userId"`
	ConsentType string `json:"consentType"`
	Language    string `json:"language"`
}

var consentTextFields = fieldNames{"processId", "processType", "userId", "consentType", "language"}

func (d *consentTextRequest) readJSON(dec *jsonDecoder) error {
	return dec.readFields(consentTextFields, func(field string) error {
		switch field {
		case "processId":
			return dec.readString(&d.ProcessID)
		case "processType":
			return dec.readString(&d.ProcessType)
		case "userId":
			return dec.readString(&d.UserID)
		case "consentType":
			return dec.readString(&d.ConsentType)
		case "language":
			return dec.readString(&d.Language)
		}
		return dec.skip()
	})
}

func (d consentTextRequest) toPorts(meta domain.RequestMeta) (ports.ConsentTextRequest, error) {
	if err := checkLengths("",
		field{"processId", d.ProcessID, maxIDChars}, field{"processType", d.ProcessType, maxIDChars},
		field{"userId", d.UserID, maxIDChars}, field{"consentType", d.ConsentType, maxCodeChars},
		field{"language", d.Language, maxCodeChars},
	); err != nil {
		return ports.ConsentTextRequest{}, err
	}
	return ports.ConsentTextRequest{
		ProcessID:   d.ProcessID,
		ProcessType: d.ProcessType,
		UserID:      d.UserID,
		ConsentType: d.ConsentType,
		Language:    d.Language,
		Meta:        meta,
	}, nil
}

// decodeConsentTextRequest is the go-kit decoder of /consent/text.
func decodeConsentTextRequest(ctx context.Context, r *http.Request) (any, error) {
	var d consentTextRequest
	if err := decodeJSON(ctx, r, &d); err != nil {
		return nil, err
	}
	noteProcessID(ctx, d.ProcessID)
	return d.toPorts(metaFrom(ctx))
}

// processEventRequest is the body of POST /process/event. Callers name the
// free-form object data or eventData; data wins when both are sent. The
// ports request has no locale, so a locale is kept in the data (unless the
// data already has one).
type processEventRequest struct {
	Type                   string     `json:"type"`
	ProcessID              string     `json:"processId"`
	ProcessType            string     `json:"processType"`
	UserID                 string     `json:"userId"`
	IdentityVerificationID string     `json:"identityVerificationId"`
	Locale                 string     `json:"locale"`
	Data                   jsonObject `json:"data"`
	EventData              jsonObject `json:"eventData"`
}

var processEventFields = fieldNames{"type", "processId", "processType", "userId", "identityVerificationId", "locale", "data", "eventData"}

func (d *processEventRequest) readJSON(dec *jsonDecoder) error {
	return dec.readFields(processEventFields, func(field string) error {
		switch field {
		case "type":
			return dec.readString(&d.Type)
		case "processId":
			return dec.readString(&d.ProcessID)
		case "processType":
			return dec.readString(&d.ProcessType)
		case "userId":
			return dec.readString(&d.UserID)
		case "identityVerificationId":
			return dec.readString(&d.IdentityVerificationID)
		case "locale":
			return dec.readString(&d.Locale)
		case "data":
			return dec.readObject(&d.Data)
		case "eventData":
			return dec.readObject(&d.EventData)
		}
		return dec.skip()
	})
}

func (d processEventRequest) toPorts(meta domain.RequestMeta) (ports.ProcessEventRequest, error) {
	if err := checkLengths("",
		field{"type", d.Type, maxCodeChars}, field{"processId", d.ProcessID, maxIDChars},
		field{"processType", d.ProcessType, maxIDChars}, field{"userId", d.UserID, maxIDChars},
		field{"identityVerificationId", d.IdentityVerificationID, maxIDChars}, field{"locale", d.Locale, maxCodeChars},
	); err != nil {
		return ports.ProcessEventRequest{}, err
	}
	for _, o := range []struct {
		path string
		obj  jsonObject
	}{{"data", d.Data}, {"eventData", d.EventData}} {
		if o.obj.problem != "" {
			return ports.ProcessEventRequest{}, fieldError(o.path, o.obj.problem)
		}
	}
	data := d.Data.values
	if data == nil {
		data = d.EventData.values
	}
	if d.Locale != "" {
		if data == nil {
			data = map[string]any{}
		}
		if _, ok := data["locale"]; !ok {
			data["locale"] = d.Locale
		}
	}
	return ports.ProcessEventRequest{
		Type:                   d.Type,
		ProcessID:              d.ProcessID,
		ProcessType:            d.ProcessType,
		UserID:                 d.UserID,
		IdentityVerificationID: d.IdentityVerificationID,
		Data:                   data,
		Meta:                   meta,
	}, nil
}

// decodeProcessEventRequest is the go-kit decoder of /process/event.
func decodeProcessEventRequest(ctx context.Context, r *http.Request) (any, error) {
	var d processEventRequest
	if err := decodeJSON(ctx, r, &d, eventPaths...); err != nil {
		return nil, err
	}
	noteProcessID(ctx, d.ProcessID)
	return d.toPorts(metaFrom(ctx))
}
