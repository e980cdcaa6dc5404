package sam

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzDecoder feeds arbitrary bytes to the frame decoder: it must never
// panic, every frame it returns must re-encode to a checksum-valid frame,
// and it must terminate (every call consumes input or reads).
func FuzzDecoder(f *testing.F) {
	f.Add(CmdFind.Encode())
	f.Add(append([]byte{0x01, 0xAA}, Reply{SW3: StatusNoCard}.Encode()...))
	f.Add(append(append([]byte{}, Preamble[:]...), 0xFF, 0xFF, 0x00))
	f.Add(append(append([]byte{}, Preamble[:]...), 0x00, 0x00))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := NewDecoder(bytes.NewReader(b))
		for i := 0; ; i++ {
			if i > len(b)+1 {
				t.Fatal("decoder does not terminate")
			}
			p, err := d.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrLength) {
					t.Fatalf("unexpected error %v", err)
				}
				continue
			}
			if len(p) > MaxLen {
				t.Fatalf("payload of %d bytes", len(p))
			}
			f := Frame(p)
			if q, n, err := Split(f); err != nil || n != len(f) || !bytes.Equal(q, p) {
				t.Fatalf("re-split: %v", err)
			}
			if _, err := ParseReply(p); err != nil && len(p) >= 3 {
				t.Fatal(err)
			}
		}
	})
}

// FuzzReadReply decodes a read reply's data (lengths, text block): never a
// panic, and a decoded text block re-encodes to the same fields.
func FuzzReadReply(f *testing.F) {
	text, _ := EncodeText(Identity{Name: "张三", Sex: "2", Nation: "01", Birth: "19491231",
		Address: "北京市", ID: "11010519491231002X", Issuer: "公安局", ValidFrom: "20200101", ValidTo: "长期"})
	f.Add(BaseMessage{Text: text, Photo: make([]byte, 16)}.Encode(), false)
	f.Add(BaseMessage{Text: text, Photo: []byte{1}, Fingerprint: []byte{2}}.Encode(), true)
	f.Add([]byte{0x01, 0x00}, false)
	f.Fuzz(func(t *testing.T, data []byte, fp bool) {
		m, err := ParseBaseMessage(data, fp)
		var tb []byte
		if err == nil {
			tb = m.Text
		} else if len(data) >= TextLen {
			tb = data[:TextLen]
		} else {
			return
		}
		id, err := DecodeText(tb)
		if err != nil {
			return
		}
		_ = id.Validate()
		if enc, err := EncodeText(id); err == nil {
			id2, err := DecodeText(enc)
			if err != nil || id2 != id {
				t.Fatalf("re-encode differs: %v", err)
			}
		}
	})
}
