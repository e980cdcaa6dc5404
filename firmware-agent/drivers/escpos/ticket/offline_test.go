package ticket

import (
	"bytes"
	"testing"

	"github.com/servicehall/servicehall/firmware-agent/drivers/escpos"
	"github.com/servicehall/servicehall/wire"
)

// An offline ticket prints its EtaText instead of the people ahead and
// the estimate.
func TestTicketEtaText(t *testing.T) {
	l, err := ForWidth(58)
	if err != nil {
		t.Fatal(err)
	}
	f := wire.PrintFields{Hall: "政务服务中心", Number: "A007", Item: "人才引进", IssuedAt: "2026-11-21 09:30",
		EtaText: "等候时间暂不可估算"}
	got, err := Render(wire.Print{Template: wire.TemplateTicket, Fields: f}, l)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := escpos.FontGBK.Encode("等候时间暂不可估算\n")
	if !bytes.Contains(got, want) {
		t.Errorf("EtaText missing from % X", got)
	}
	for _, s := range []string{"前面", "预计等待"} {
		no, _ := escpos.FontGBK.Encode(s)
		if bytes.Contains(got, no) {
			t.Errorf("offline ticket prints %s", s)
		}
	}
}
