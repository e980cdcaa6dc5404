package speaker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrBadWAV wraps every WAV parsing problem.
var ErrBadWAV = errors.New("bad WAV")

// Format is a PCM stream format.
type Format struct {
	Channels      uint16
	SampleRate    uint32
	BitsPerSample uint16
}

// BlockAlign is the bytes per sample frame.
func (f Format) BlockAlign() int { return int(f.Channels) * int(f.BitsPerSample) / 8 }

// WAV is a parsed PCM WAV file.
type WAV struct {
	Format Format
	Data   []byte // whole sample frames
}

// Duration of the samples in seconds.
func (w WAV) Seconds() float64 {
	ba := w.Format.BlockAlign()
	if ba == 0 || w.Format.SampleRate == 0 {
		return 0
	}
	return float64(len(w.Data)/ba) / float64(w.Format.SampleRate)
}

// ParseWAV reads a RIFF/WAVE file with integer PCM samples. A data chunk
// whose declared size runs past the end (a stream written to a pipe) is
// cut to what is there, in whole frames. It never panics.
func ParseWAV(b []byte) (WAV, error) {
	var w WAV
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return w, fmt.Errorf("%w: not RIFF/WAVE", ErrBadWAV)
	}
	haveFmt := false
	p := 12
	for p+8 <= len(b) {
		id := string(b[p : p+4])
		size := int64(binary.LittleEndian.Uint32(b[p+4 : p+8]))
		p += 8
		rest := int64(len(b) - p)
		switch id {
		case "fmt ":
			if size < 16 || size > rest {
				return w, fmt.Errorf("%w: fmt chunk of %d bytes", ErrBadWAV, size)
			}
			tag := binary.LittleEndian.Uint16(b[p:])
			w.Format = Format{
				Channels:      binary.LittleEndian.Uint16(b[p+2:]),
				SampleRate:    binary.LittleEndian.Uint32(b[p+4:]),
				BitsPerSample: binary.LittleEndian.Uint16(b[p+14:]),
			}
			if tag != 1 && tag != 0xfffe {
				return w, fmt.Errorf("%w: format tag %#x is not PCM", ErrBadWAV, tag)
			}
			f := w.Format
			if f.Channels == 0 || f.Channels > 8 || f.SampleRate < 1000 || f.SampleRate > 384000 ||
				(f.BitsPerSample != 8 && f.BitsPerSample != 16 && f.BitsPerSample != 24 && f.BitsPerSample != 32) {
				return w, fmt.Errorf("%w: unsupported format %+v", ErrBadWAV, f)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return w, fmt.Errorf("%w: data before fmt", ErrBadWAV)
			}
			size = min(size, rest)
			ba := int64(w.Format.BlockAlign())
			size -= size % ba
			w.Data = b[p : p+int(size)]
			return w, nil
		}
		if size > rest {
			break
		}
		p += int(size + size&1) // chunks are padded to even length
	}
	return w, fmt.Errorf("%w: no data chunk", ErrBadWAV)
}

// Concat joins clips of one format into one WAV.
func Concat(clips []WAV) (WAV, error) {
	if len(clips) == 0 {
		return WAV{}, fmt.Errorf("%w: nothing to join", ErrBadWAV)
	}
	out := WAV{Format: clips[0].Format}
	n := 0
	for i, c := range clips {
		if c.Format != out.Format {
			return WAV{}, fmt.Errorf("%w: clip %d is %+v, the first is %+v", ErrBadWAV, i, c.Format, out.Format)
		}
		n += len(c.Data)
	}
	out.Data = make([]byte, 0, n)
	for _, c := range clips {
		out.Data = append(out.Data, c.Data...)
	}
	return out, nil
}

// WriteTo writes w as a canonical 44-byte-header PCM WAV.
func (w WAV) WriteTo(out io.Writer) (int64, error) {
	f := w.Format
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+len(w.Data)))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)
	binary.LittleEndian.PutUint16(h[22:], f.Channels)
	binary.LittleEndian.PutUint32(h[24:], f.SampleRate)
	binary.LittleEndian.PutUint32(h[28:], f.SampleRate*uint32(f.BlockAlign()))
	binary.LittleEndian.PutUint16(h[32:], uint16(f.BlockAlign()))
	binary.LittleEndian.PutUint16(h[34:], f.BitsPerSample)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(len(w.Data)))
	n, err := out.Write(h)
	if err != nil {
		return int64(n), err
	}
	m, err := out.Write(w.Data)
	return int64(n + m), err
}
