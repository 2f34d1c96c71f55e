package domain

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
)

// Image is a picture the caller sent (presence-check frame, document face).
// The service keeps only its digest unless policy keeps the bytes as review
// evidence. Data is the decoded image while the request lives, and only
// then: the transport decodes into buffers it reuses once the request is
// answered, so whatever keeps the bytes longer copies them (the decision
// engine does for review evidence). A document's images come without Data:
// nothing but their digest is ever recorded.
type Image struct {
	Kind   string // FRAME for the presence check, the document's image type otherwise
	Format string // "jpeg" or "png"
	SHA256 string // hex
	Size   int
	Data   []byte
}

// ErrNotAnImage is returned by NewImage for bytes that are neither JPEG nor PNG.
var ErrNotAnImage = errors.New("not a JPEG or PNG image")

var (
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
	pngMagic  = []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}
)

// ImageFormatBytes is the most of an image ImageFormat reads (the PNG
// signature): a store that lists images without their bytes keeps this
// much, so the format can still be told.
const ImageFormatBytes = 8

// ImageFormat sniffs the format from the magic bytes: "jpeg", "png" or "".
// It reads at most ImageFormatBytes.
func ImageFormat(data []byte) string {
	switch {
	case bytes.HasPrefix(data, jpegMagic):
		return "jpeg"
	case bytes.HasPrefix(data, pngMagic):
		return "png"
	}
	return ""
}

// NewImage checks that data is a JPEG or PNG and computes its digest.
func NewImage(kind string, data []byte) (Image, error) {
	f := ImageFormat(data)
	if f == "" {
		return Image{}, ErrNotAnImage
	}
	sum := sha256.Sum256(data)
	return Image{Kind: kind, Format: f, SHA256: hex.EncodeToString(sum[:]), Size: len(data), Data: data}, nil
}

// Digest drops the bytes and keeps what proves the image was seen.
func (i Image) Digest() ImageDigest {
	return ImageDigest{Kind: i.Kind, SHA256: i.SHA256, Size: i.Size}
}

// LogValue keeps image bytes out of logs.
func (i Image) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", i.Kind), slog.String("format", i.Format), slog.Int("size", i.Size))
}
