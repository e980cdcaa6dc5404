// Package ticket lays out the queue ticket and the case receipt from the
// fields of a cmd/print command (wire.Print) as ESC/POS bytes for one
// printer: its paper width (58 or 80 mm), its font coverage and whether it
// draws QR codes itself (GS ( k) or needs a raster image (GS v 0).
//
// Widths are counted in columns of the printer's 12×24 font: 32 on 58 mm
// paper (384 dots), 48 on 80 mm (576 dots); a hanzi takes two columns and
// a character under GS ! k×k takes k times as many.
package ticket

import (
	"fmt"
	"strings"
	"time"

	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos"
	"github.com/servicehall/servicehall/wire"
)

// Layout describes the printer a job is rendered for.
type Layout struct {
	Columns   int            // characters per line at normal size (32 or 48)
	Dots      int            // printable dots per line (384 or 576)
	Font      escpos.Font    // what the resident font covers
	QRNative  bool           // GS ( k supported; else a GS v 0 raster is sent
	QRSize    int            // module size in dots, 1..16 (default 6)
	QREC      escpos.ECLevel // error correction (default M)
	FeedLines int            // lines fed before the cut (default 3)
	// Location is the hall's time zone for issued_at (default UTC+8).
	Location *time.Location
}

// ForWidth returns the layout of a printer with paper widthMM (58 or 80)
// and defaults for the rest: native QR, GBK font, module 6, level M.
func ForWidth(widthMM int) (Layout, error) {
	l := Layout{Font: escpos.FontGBK, QRNative: true, QRSize: 6, QREC: escpos.ECM, FeedLines: 3, Location: China}
	switch widthMM {
	case 58:
		l.Columns, l.Dots = 32, 384
	case 80:
		l.Columns, l.Dots = 48, 576
	default:
		return l, fmt.Errorf("paper width %d mm is not 58 or 80", widthMM)
	}
	return l, nil
}

// China is UTC+8 without daylight saving (Asia/Shanghai), used when the
// zone database is missing on a small board.
var China = time.FixedZone("CST", 8*3600)

// Render lays out p for l. Bad fields that cannot be printed (a QR payload
// that does not fit) are errors; text that the font lacks is replaced.
func Render(p wire.Print, l Layout) ([]byte, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	if l.Columns <= 0 {
		return nil, fmt.Errorf("layout has %d columns", l.Columns)
	}
	r := renderer{l: l, b: escpos.NewBuilder(l.Font)}
	r.b.Init().ChineseOn()
	switch p.Template {
	case wire.TemplateReceipt:
		r.receipt(p.Fields)
	default:
		r.ticket(p.Fields)
	}
	return r.b.Bytes()
}

type renderer struct {
	l Layout
	b *escpos.Builder
}

func (r *renderer) ticket(f wire.PrintFields) {
	b := r.b
	b.Align(escpos.Center)
	if f.Hall != "" {
		b.Bold(true)
		r.lines(f.Hall, 1)
		b.Bold(false)
	}
	if f.Item != "" {
		r.lines(f.Item, 1)
	}
	k := r.bigScale(f.Number)
	b.Size(k, k)
	r.lines(f.Number, k)
	b.Size(1, 1)
	if f.EtaText != "" {
		// An offline ticket: nobody here knows the line, say so instead.
		if f.WindowHint != "" {
			r.lines(f.WindowHint, 1)
		}
		r.lines(f.EtaText, 1)
	} else {
		ahead := fmt.Sprintf("前面%d人", max(f.Ahead, 0))
		if f.WindowHint != "" && r.fits(f.WindowHint+" "+ahead, 1) {
			r.lines(f.WindowHint+" "+ahead, 1)
		} else {
			if f.WindowHint != "" {
				r.lines(f.WindowHint, 1)
			}
			r.lines(ahead, 1)
		}
		if eta := ETA(f.EtaP50S, f.EtaP90S); eta != "" {
			r.lines(eta, 1)
		}
	}
	r.qr(f.QR)
	if f.Check != "" {
		r.lines("评价核验码 Check: "+f.Check, 1)
	}
	if t := r.when(f.IssuedAt); t != "" {
		r.lines(t, 1)
	}
	b.Feed(r.feed()).Cut(0)
}

func (r *renderer) receipt(f wire.PrintFields) {
	b := r.b
	b.Align(escpos.Center).Bold(true)
	if f.Hall != "" {
		r.lines(f.Hall, 1)
	}
	r.lines("办件回执", 1)
	b.Bold(false).Align(escpos.Left)
	r.field("事项：", f.Item)
	r.field("号码：", f.Number)
	r.field("流水号：", f.Serial)
	r.field("查询码：", f.Check)
	r.field("办理窗口：", f.WindowHint)
	r.field("时间：", r.when(f.IssuedAt))
	if f.QR != "" {
		b.Align(escpos.Center)
		r.qr(f.QR)
		r.lines("扫码查询办件进度", 1)
	}
	b.Feed(r.feed()).Cut(0)
}

func (r *renderer) field(label, v string) {
	if strings.TrimSpace(v) == "" {
		return
	}
	r.lines(label+v, 1)
}

func (r *renderer) feed() int {
	if r.l.FeedLines > 0 {
		return r.l.FeedLines
	}
	return 3
}

func (r *renderer) qr(data string) {
	if data == "" {
		return
	}
	size := r.l.QRSize
	if size <= 0 {
		size = 6
	}
	ec := r.l.QREC
	if ec == 0 {
		ec = escpos.ECM
	}
	if r.l.QRNative {
		r.b.QR(data, size, ec)
		return
	}
	r.b.QRRaster(data, size, ec, r.l.Dots)
}

// bigScale is the largest of 4, 3, 2 at which number fits on one line.
func (r *renderer) bigScale(number string) int {
	for k := 4; k > 1; k-- {
		if r.fits(number, k) {
			return k
		}
	}
	return 1
}

func (r *renderer) fits(s string, scale int) bool {
	return r.l.Font.Width(s)*scale <= r.l.Columns
}

// lines prints s wrapped to the paper at scale, one LF per line.
func (r *renderer) lines(s string, scale int) {
	for _, ln := range Wrap(s, r.l.Columns/scale, r.l.Font) {
		r.b.Line(ln)
	}
}

func (r *renderer) when(s string) string {
	if s == "" {
		return ""
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s // print what the controller sent
	}
	loc := r.l.Location
	if loc == nil {
		loc = China
	}
	return t.In(loc).Format("2006-01-02 15:04")
}

// ETA formats the P50–P90 wait estimate as a range of whole minutes:
// P50 rounded to the nearest minute (at least 1), P90 rounded up, e.g.
// "预计等待5-12分钟", or "预计等待约5分钟" when both round alike. It is ""
// when there is no estimate (both zero or negative).
func ETA(p50, p90 int) string {
	if p50 <= 0 && p90 <= 0 {
		return ""
	}
	lo := max((p50+30)/60, 1)
	hi := max((p90+59)/60, lo)
	if hi == lo {
		return fmt.Sprintf("预计等待约%d分钟", lo)
	}
	return fmt.Sprintf("预计等待%d-%d分钟", lo, hi)
}

// Wrap splits s into lines of at most cols columns (hanzi count two),
// breaking at existing newlines and else between characters. Control
// characters are dropped later by the encoder and count zero here.
func Wrap(s string, cols int, font escpos.Font) []string {
	if cols < 2 {
		cols = 2
	}
	var out []string
	for _, para := range strings.Split(s, "\n") {
		var cur strings.Builder
		w := 0
		for _, c := range para {
			cw := font.RuneWidth(c)
			if w+cw > cols {
				out = append(out, cur.String())
				cur.Reset()
				w = 0
			}
			cur.WriteRune(c)
			w += cw
		}
		out = append(out, cur.String())
	}
	return out
}
