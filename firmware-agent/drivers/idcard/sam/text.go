package sam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf16"
)

// TextLen is the size of the GA 490 text block.
const TextLen = 256

// field is one text-block field: byte offset and size (UCS-2 LE).
type field struct{ off, size int }

// Text-block layout (DEVICES.md §2.4), byte offsets in the 256-byte block.
var (
	fName      = field{0, 30}
	fSex       = field{30, 2}
	fNation    = field{32, 4}
	fBirth     = field{36, 16}
	fAddress   = field{52, 70}
	fID        = field{122, 36}
	fIssuer    = field{158, 30}
	fValidFrom = field{188, 16}
	fValidTo   = field{204, 16}
	fReserved  = field{220, 36}
)

// ValidForever is the valid-to text of long-term cards (长期).
const ValidForever = "长期"

// Errors of the text block.
var (
	ErrTextLen      = errors.New("sam: text block is not 256 bytes")
	ErrCardType     = errors.New("sam: card type other than the resident identity card")
	ErrFieldTooLong = errors.New("sam: field does not fit the text block")
	ErrNotUCS2      = errors.New("sam: character outside UCS-2")
)

// Identity is the decoded text block of a resident identity card. It holds
// the raw name and number: never log it. String, GoString and LogValue
// redact it, so an accidental %v or slog attribute leaks nothing.
type Identity struct {
	Name      string // 姓名
	Sex       string // "1" male, "2" female (GB/T 2261.1)
	Nation    string // "01".."56", "97", "98" (GB 3304)
	Birth     string // YYYYMMDD
	Address   string // 住址
	ID        string // 公民身份号码
	Issuer    string // 签发机关
	ValidFrom string // YYYYMMDD
	ValidTo   string // YYYYMMDD or 长期
}

// String redacts.
func (Identity) String() string { return "sam.Identity{redacted}" }

// GoString redacts.
func (Identity) GoString() string { return "sam.Identity{redacted}" }

// LogValue redacts.
func (Identity) LogValue() slog.Value { return slog.StringValue("redacted") }

// decodeField decodes UCS-2 LE and trims the padding (spaces and NULs).
func decodeField(b []byte, f field) string {
	u := make([]uint16, f.size/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[f.off+2*i:])
	}
	return strings.TrimRight(string(utf16.Decode(u)), " \x00")
}

// DecodeText decodes the 256-byte text block. It checks only the structure
// (size, card type); Validate checks the content.
func DecodeText(b []byte) (Identity, error) {
	if len(b) != TextLen {
		return Identity{}, fmt.Errorf("%w: %d", ErrTextLen, len(b))
	}
	// Foreigners' permanent-residence cards and the HK/Macau/Taiwan
	// residence permit mark their type in the reserved area ('I', 'J' at
	// byte 248 in public SDKs; unverified). Their layouts differ.
	if t := decodeField(b, field{248, 2}); t == "I" || t == "J" {
		return Identity{}, fmt.Errorf("%w: type %q", ErrCardType, t)
	}
	return Identity{
		Name:      decodeField(b, fName),
		Sex:       decodeField(b, fSex),
		Nation:    decodeField(b, fNation),
		Birth:     decodeField(b, fBirth),
		Address:   decodeField(b, fAddress),
		ID:        decodeField(b, fID),
		Issuer:    decodeField(b, fIssuer),
		ValidFrom: decodeField(b, fValidFrom),
		ValidTo:   decodeField(b, fValidTo),
	}, nil
}

// encodeField writes s as UCS-2 LE padded with U+0020.
func encodeField(b []byte, f field, name, s string) error {
	u := utf16.Encode([]rune(s))
	for _, c := range u {
		if utf16.IsSurrogate(rune(c)) {
			return fmt.Errorf("%w: %s", ErrNotUCS2, name)
		}
	}
	if 2*len(u) > f.size {
		return fmt.Errorf("%w: %s has %d characters, room for %d", ErrFieldTooLong, name, len(u), f.size/2)
	}
	for i := 0; i < f.size/2; i++ {
		c := uint16(' ')
		if i < len(u) {
			c = u[i]
		}
		binary.LittleEndian.PutUint16(b[f.off+2*i:], c)
	}
	return nil
}

// EncodeText builds the 256-byte text block (for emulators and tests).
func EncodeText(id Identity) ([]byte, error) {
	b := make([]byte, TextLen)
	for _, f := range []struct {
		f    field
		name string
		v    string
	}{
		{fName, "name", id.Name}, {fSex, "sex", id.Sex}, {fNation, "nation", id.Nation},
		{fBirth, "birth", id.Birth}, {fAddress, "address", id.Address}, {fID, "id", id.ID},
		{fIssuer, "issuer", id.Issuer}, {fValidFrom, "valid_from", id.ValidFrom},
		{fValidTo, "valid_to", id.ValidTo}, {fReserved, "reserved", ""},
	} {
		if err := encodeField(b, f.f, f.name, f.v); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// BaseMessage is the data of a read reply (30 01, or 30 10 with
// fingerprints): the text block and the opaque WLT photo.
type BaseMessage struct {
	Text        []byte
	Photo       []byte // WLT, vendor-licensed format; treated as opaque
	Fingerprint []byte // only with 30 10
}

// ParseBaseMessage splits a read reply's data by its length fields: two
// (text, photo) or, withFingerprint, three (text, photo, fingerprint).
// The lengths must account for the data exactly.
func ParseBaseMessage(data []byte, withFingerprint bool) (BaseMessage, error) {
	nl := 2
	if withFingerprint {
		nl = 3
	}
	if len(data) < 2*nl {
		return BaseMessage{}, fmt.Errorf("%w: base message of %d bytes", ErrPayload, len(data))
	}
	lens := make([]int, nl)
	total := 2 * nl
	for i := range lens {
		lens[i] = int(binary.BigEndian.Uint16(data[2*i:]))
		total += lens[i]
	}
	if total != len(data) {
		return BaseMessage{}, fmt.Errorf("%w: lengths %v do not add up to %d bytes", ErrPayload, lens, len(data)-2*nl)
	}
	if lens[0] != TextLen {
		return BaseMessage{}, fmt.Errorf("%w: %d", ErrTextLen, lens[0])
	}
	parts := make([][]byte, nl)
	off := 2 * nl
	for i, l := range lens {
		parts[i] = append([]byte(nil), data[off:off+l]...)
		off += l
	}
	m := BaseMessage{Text: parts[0], Photo: parts[1]}
	if withFingerprint {
		m.Fingerprint = parts[2]
	}
	return m, nil
}

// Encode returns the read reply's data (length fields, text, photo and,
// when Fingerprint is non-nil, fingerprint).
func (m BaseMessage) Encode() []byte {
	parts := [][]byte{m.Text, m.Photo}
	if m.Fingerprint != nil {
		parts = append(parts, m.Fingerprint)
	}
	var out []byte
	for _, p := range parts {
		out = binary.BigEndian.AppendUint16(out, uint16(len(p)))
	}
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
