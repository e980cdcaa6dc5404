package onbon

import "fmt"

// CmdError is the controller's error code (BX4K.h).
type CmdError byte

// Known error codes.
const (
	ErrNone          CmdError = 0x00
	ErrOutOfGroup    CmdError = 0x01
	ErrNoCmd         CmdError = 0x02
	ErrBusy          CmdError = 0x03
	ErrMemoryVolume  CmdError = 0x04
	ErrChecksum      CmdError = 0x05
	ErrFileNotExist  CmdError = 0x06
	ErrFlash         CmdError = 0x07
	ErrFileDownload  CmdError = 0x08
	ErrFileName      CmdError = 0x09
	ErrFileType      CmdError = 0x0A
	ErrFileCRC       CmdError = 0x0B
	ErrFontNotExist  CmdError = 0x0C
	ErrFirmwareType  CmdError = 0x0D
	ErrDateTime      CmdError = 0x0E
	ErrFileExist     CmdError = 0x0F
	ErrFileBlockNum  CmdError = 0x10
	ErrUnknownReason CmdError = 0xFF // a NACK that carried no code
)

var cmdErrorCodes = map[CmdError]string{
	ErrNone:          "ok",
	ErrOutOfGroup:    "cmd_group",
	ErrNoCmd:         "no_cmd",
	ErrBusy:          "busy",
	ErrMemoryVolume:  "out_of_memory",
	ErrChecksum:      "crc",
	ErrFileNotExist:  "file_not_exist",
	ErrFlash:         "flash",
	ErrFileDownload:  "file_download",
	ErrFileName:      "file_name",
	ErrFileType:      "file_type",
	ErrFileCRC:       "file_crc",
	ErrFontNotExist:  "font_not_exist",
	ErrFirmwareType:  "firmware_type",
	ErrDateTime:      "date_time",
	ErrFileExist:     "file_exist",
	ErrFileBlockNum:  "file_block_num",
	ErrUnknownReason: "nack",
}

// Code is a stable string for the wire ("busy", "crc", …; "err_XX" for an
// unlisted value).
func (e CmdError) Code() string {
	if s, ok := cmdErrorCodes[e]; ok {
		return s
	}
	return fmt.Sprintf("err_%02x", byte(e))
}

func (e CmdError) Error() string { return "onbon controller error: " + e.Code() }

// Reply is a controller's answer.
type Reply struct {
	Header
	Group, Cmd byte
	OK         bool
	Err        CmdError
	Data       []byte // the whole data field
}

// ParseReply interprets a decoded packet as a reply.
//
// Assumed layout (not verified on hardware; DEVICES.md §3.2 and §7): the
// reply is a frame in the request format, normally with Dst = the host
// (8000) and Src = the screen, and data = CmdGroup A0, Cmd 00 (ACK) or 01
// (NACK), CmdError, then optional bytes. To be tolerant of firmware
// variants:
//   - any data starting with A0: Cmd 00 = OK unless a non-zero CmdError
//     follows; Cmd 01 = NACK with the CmdError (ErrUnknownReason when absent);
//     other Cmd values are treated as NACK with their CmdError;
//   - data echoing another group with at least three bytes: the third byte
//     is taken as CmdError, 00 = OK (a reply to A1 02 status carries status
//     bytes after it);
//   - the addresses are not checked here; the caller filters by Src.
func ParseReply(p Packet) (Reply, error) {
	r := Reply{Header: p.Header, Data: p.Data}
	if len(p.Data) < 2 {
		return r, fmt.Errorf("%w: %d data bytes", ErrNotReply, len(p.Data))
	}
	r.Group, r.Cmd = p.Data[0], p.Data[1]
	code := ErrUnknownReason
	if len(p.Data) >= 3 {
		code = CmdError(p.Data[2])
	}
	switch {
	case r.Group == GroupReply && r.Cmd == CmdAck:
		if len(p.Data) >= 3 && code != ErrNone {
			r.Err = code
			return r, nil
		}
		r.OK = true
	case r.Group == GroupReply:
		r.Err = code
		if r.Err == ErrNone {
			r.Err = ErrUnknownReason
		}
	case len(p.Data) >= 3:
		r.Err = code
		r.OK = code == ErrNone
	default:
		return r, fmt.Errorf("%w: group %02X with %d data bytes", ErrNotReply, r.Group, len(p.Data))
	}
	return r, nil
}

// AckData is the data field the emulator sends: A0 00 00 00 00 for OK,
// A0 01 <err> 00 00 otherwise.
func AckData(err CmdError) []byte {
	if err == ErrNone {
		return []byte{GroupReply, CmdAck, 0, 0, 0}
	}
	return []byte{GroupReply, CmdNack, byte(err), 0, 0}
}

// ReplyHeader is the header a screen at addr uses to answer the host.
func ReplyHeader(addr uint16) Header {
	return Header{Dst: AddrHost, Src: addr, DeviceType: DeviceWildcard, Version: ProtocolVersion}
}
