package escpos_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos"
	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos/escposemu"
)

// crossJS prints, as hex lines, receiptline's GB18030 ticket and
// receipt-printer-encoder's native QR block (DEVICES.md §1.6).
const crossJS = `
const receiptline = require('receiptline');
const out = receiptline.transform('^^^A001\n请到5号窗口办理\n', {command: 'escpos', encoding: 'gb18030', cpl: 48});
console.log(Buffer.from(out, 'binary').toString('hex'));
const RPE = require('@point-of-sale/receipt-printer-encoder');
const E = RPE.default || RPE.ReceiptPrinterEncoder || RPE;
const q = new E({language: 'esc-pos'}).qrcode('https://example.gov.cn/q/A001', {model: 2, size: 6, errorlevel: 'm'}).encode();
console.log(Buffer.from(q).toString('hex'));
`

// TestCrossCheckNode compares our bytes with two independent encoders
// (npm receiptline@4.0.4 and @point-of-sale/receipt-printer-encoder@4.0.1)
// and decodes receiptline's job with our emulator. Skipped unless node
// finds both packages: `npm install receiptline@4.0.4
// @point-of-sale/receipt-printer-encoder@4.0.1` in a directory and set
// ESCPOS_NODE_MODULES to its node_modules.
func TestCrossCheckNode(t *testing.T) {
	mods := os.Getenv("ESCPOS_NODE_MODULES")
	node, err := exec.LookPath("node")
	if mods == "" || err != nil {
		t.Skip("set ESCPOS_NODE_MODULES and install node to cross-check with npm encoders")
	}
	cmd := exec.Command(node, "-e", crossJS)
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("node encoders not available: %v", err)
	}
	lines := strings.Fields(string(out))
	if len(lines) != 2 {
		t.Fatalf("node output: %q", out)
	}
	rl, _ := hex.DecodeString(lines[0])
	qr, _ := hex.DecodeString(lines[1])

	text, _ := escpos.NewBuilder(escpos.FontGBK).Line("请到5号窗口办理").Bytes()
	big, _ := escpos.NewBuilder(escpos.FontGBK).Size(2, 2).Bytes()
	cut, _ := escpos.NewBuilder(escpos.FontGBK).Cut(0).Bytes()
	for name, seg := range map[string][]byte{"text": text, "size": big, "cut": cut, "A001": []byte("A001\n")} {
		if !bytes.Contains(rl, seg) {
			t.Errorf("receiptline lacks our %s bytes % X", name, seg)
		}
	}
	ours, _ := escpos.NewBuilder(escpos.FontGBK).QR("https://example.gov.cn/q/A001", 6, escpos.ECM).Bytes()
	if !bytes.HasPrefix(qr, ours) {
		t.Errorf("QR block differs:\n ours % X\ntheirs % X", ours, qr)
	}

	// Our emulator reads a job from another encoder.
	var paper []string
	d := escposemu.NewDecoder()
	d.Line = func(s string) { paper = append(paper, s) }
	d.Write(rl)
	got := strings.Join(paper, "\n")
	for _, s := range []string{"[L 2x2] A001", "请到5号窗口办理", "---- cut ----"} {
		if !strings.Contains(got, s) {
			t.Errorf("%q not on paper:\n%s", s, got)
		}
	}
}
