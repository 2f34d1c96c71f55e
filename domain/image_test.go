package domain_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/bankkit/onboarding-adapter/domain"
)

// tinyImage encodes a 4x4 picture with the given encoder, so the tests run
// on the bytes a real camera library writes rather than on magic numbers.
func tinyImage(t *testing.T, encode func(*bytes.Buffer, image.Image) error) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for x := range 4 {
		for y := range 4 {
			img.Set(x, y, color.RGBA{R: uint8(60 * x), G: uint8(60 * y), B: 128, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := encode(&buf, img); err != nil {
		t.Fatalf("encode: %v", err)
	}
	return buf.Bytes()
}

func TestNewImage(t *testing.T) {
	jpg := tinyImage(t, func(b *bytes.Buffer, m image.Image) error { return jpeg.Encode(b, m, nil) })
	pngb := tinyImage(t, func(b *bytes.Buffer, m image.Image) error { return png.Encode(b, m) })
	gifb := tinyImage(t, func(b *bytes.Buffer, m image.Image) error { return gif.Encode(b, m, nil) })
	tests := []struct {
		name       string
		data       []byte
		wantFormat string // "" when refused
	}{
		{"jpeg", jpg, "jpeg"},
		{"png", pngb, "png"},
		{"gif", gifb, ""},
		{"garbage", []byte("definitely not a picture"), ""},
		{"empty", []byte{}, ""},
		{"nil", nil, ""},
		{"truncated jpeg magic", jpg[:2], ""},
		{"truncated png magic", pngb[:7], ""},
		{"base64 text of a jpeg", []byte("/9j/4AAQSkZJRg=="), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := domain.ImageFormat(tc.data); got != tc.wantFormat {
				t.Errorf("ImageFormat = %q, want %q", got, tc.wantFormat)
			}
			img, err := domain.NewImage("FRAME", tc.data)
			if tc.wantFormat == "" {
				if !errors.Is(err, domain.ErrNotAnImage) {
					t.Fatalf("NewImage error = %v, want ErrNotAnImage", err)
				}
				if img.SHA256 != "" || img.Data != nil {
					t.Errorf("refused image still filled: %+v", img.LogValue())
				}
				return
			}
			if err != nil {
				t.Fatalf("NewImage: %v", err)
			}
			sum := sha256.Sum256(tc.data)
			if want := hex.EncodeToString(sum[:]); img.SHA256 != want {
				t.Errorf("SHA256 = %s, want %s", img.SHA256, want)
			}
			if img.Kind != "FRAME" || img.Format != tc.wantFormat || img.Size != len(tc.data) || !bytes.Equal(img.Data, tc.data) {
				t.Errorf("image = kind %q format %q size %d, data kept %v", img.Kind, img.Format, img.Size, bytes.Equal(img.Data, tc.data))
			}

			d := img.Digest()
			if d != (domain.ImageDigest{Kind: "FRAME", SHA256: img.SHA256, Size: len(tc.data)}) {
				t.Errorf("Digest() = %+v", d)
			}

			var buf bytes.Buffer
			slog.New(slog.NewTextHandler(&buf, nil)).Info("frame", "image", img)
			out := buf.String()
			for _, want := range []string{"image.kind=FRAME", "image.format=" + tc.wantFormat, "image.size=" + strconv.Itoa(len(tc.data))} {
				if !strings.Contains(out, want) {
					t.Errorf("log %q lacks %q", out, want)
				}
			}
			if strings.Contains(out, string(tc.data[:8])) || strings.Contains(out, img.SHA256) || strings.Contains(out, "Data") {
				t.Errorf("log %q carries image content", out)
			}
		})
	}
}

func TestImageDigestDiffers(t *testing.T) {
	a, err := domain.NewImage("FACE", []byte{0xFF, 0xD8, 0xFF, 0xE0, 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := domain.NewImage("FACE", []byte{0xFF, 0xD8, 0xFF, 0xE0, 2})
	if err != nil {
		t.Fatal(err)
	}
	if a.SHA256 == b.SHA256 {
		t.Error("different bytes gave the same digest")
	}
}

// ImageFormatBytes is exactly what ImageFormat needs: the PNG signature.
// Stores listing cases keep that much of a frame to tell it is one.
func TestImageFormatBytes(t *testing.T) {
	png := []byte{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13}
	jpeg := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F'}
	if got := domain.ImageFormat(png[:domain.ImageFormatBytes]); got != "png" {
		t.Errorf("PNG cut to ImageFormatBytes: %q, want png", got)
	}
	if got := domain.ImageFormat(png[:domain.ImageFormatBytes-1]); got != "" {
		t.Errorf("PNG cut shorter: %q, want none (the bound would be larger than needed)", got)
	}
	if got := domain.ImageFormat(jpeg[:domain.ImageFormatBytes]); got != "jpeg" {
		t.Errorf("JPEG cut to ImageFormatBytes: %q, want jpeg", got)
	}
}
