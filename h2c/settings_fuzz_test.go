package h2c

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

// FuzzDecodeSettings holds decodeSettings, which decodes the
// HTTP2-Settings field a client sends, to its definition (RFC 7540
// §3.2.1): the value, less surrounding space, is base64url without
// padding, decoded whole, of a SETTINGS payload (whole 6-byte settings,
// no longer than a frame of 2^14 bytes) whose every setting the HTTP/2
// server takes. Whatever dst it appends to, its answer is that one, and a
// payload of valid settings encoded goes back through it unchanged.
func FuzzDecodeSettings(f *testing.F) {
	for _, s := range []string{
		"", "AAMAAABkAARAAAAAAAIAAAAA", "AAMAAABk==", "AAMAAA+/", "AAMAAA", "AAIAAAAC", "AAgAAAAB", "AAgAAAAC",
		"AAUBAAAA", "AAUAAEAA", "AASAAAAA", " AAMAAABk\t", strings.Repeat("AAMAAABk", 100), "AAMAAABk\nAAMAAABk", "\n", " AAMAAABk\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		want, wantOK := referenceSettings(v)
		got, err := decodeSettings(nil, v)
		if (err == nil) != wantOK || err == nil && !bytes.Equal(got, want) {
			t.Fatalf("decodeSettings(%q) = %x, %v; want %x, valid %v", v, got, err, want, wantOK)
		}
		var buf [64]byte // as check decodes
		got2, err2 := decodeSettings(buf[:0], v)
		if (err2 == nil) != (err == nil) || !bytes.Equal(got2, got) {
			t.Fatalf("decodeSettings(%q) into a buffer = %x, %v; into nil %x, %v", v, got2, err2, got, err)
		}
		// The bytes of v as settings, each made valid, go back unchanged.
		var valid []byte
		for p := []byte(v); len(p) >= 6; p = p[6:] {
			s := http2.Setting{ID: http2.SettingID(binary.BigEndian.Uint16(p)), Val: binary.BigEndian.Uint32(p[2:])}
			if s.Valid() != nil {
				s.Val = 1 // valid for every setting but the frame size
				if s.ID == http2.SettingMaxFrameSize {
					s.Val = 1 << 14
				}
			}
			valid = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(valid, uint16(s.ID)), s.Val)
		}
		enc := base64.RawURLEncoding.EncodeToString(valid)
		if back, err := decodeSettings(nil, enc); len(valid) <= 1<<14 && (err != nil || !bytes.Equal(back, valid)) {
			t.Fatalf("decodeSettings of the encoding of %x = %x, %v", valid, back, err)
		}
	})
}

// referenceSettings decodes an HTTP2-Settings value by RFC 7540 §3.2.1,
// the slow way.
func referenceSettings(v string) ([]byte, bool) {
	v = strings.TrimSpace(v)
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	if err != nil || strings.ContainsAny(v, "\r\n") || len(b)%6 != 0 || len(b) > 1<<14 {
		return nil, false
	}
	for i := 0; i < len(b); i += 6 {
		s := http2.Setting{ID: http2.SettingID(binary.BigEndian.Uint16(b[i:])), Val: binary.BigEndian.Uint32(b[i+2:])}
		if s.Valid() != nil {
			return nil, false
		}
	}
	return b, true
}
