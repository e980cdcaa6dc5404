package web_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/servicehall/servicehall/hallctl/report"
	"github.com/servicehall/servicehall/hallctl/web"
)

// The manager's report downloads are for people by default (Chinese
// headers, BOM, totals, chart sheet); headers=keys keeps the
// machine-readable columns of docs/reports.md.
func TestReportExportHeaders(t *testing.T) {
	h := startHall(t)
	for _, item := range []string{"HR-001", "HR-001", "MKT-001"} {
		if r := h.do(t, "POST", "/api/v1/tickets", "", map[string]any{"item": item}); r.status != 201 {
			t.Fatalf("issue: %d %s", r.status, r.body)
		}
	}
	mgr := h.token(t, web.RoleManager, 0)
	r := h.do(t, "GET", "/api/v1/manager/reports?format=csv&by=department", mgr, nil)
	if r.status != 200 || !bytes.HasPrefix(r.body, []byte("\uFEFF期间,部门,部门名称,取号数")) || !strings.Contains(string(r.body), "\r\n合计,,,3,") {
		t.Errorf("csv for people: %d %q", r.status, r.body)
	}
	r = h.do(t, "GET", "/api/v1/manager/reports?format=csv&by=department&headers=keys", mgr, nil)
	if r.status != 200 || !strings.HasPrefix(string(r.body), strings.Join(report.Header, ",")+"\n") || strings.Contains(string(r.body), "合计") {
		t.Errorf("csv with keys: %d %q", r.status, r.body)
	}
	r = h.do(t, "GET", "/api/v1/manager/reports?format=xlsx", mgr, nil)
	f, err := excelize.OpenReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("xlsx: %d %v", r.status, err)
	}
	if got := f.GetSheetList(); len(got) != 2 || got[0] != report.SheetZh || got[1] != report.ChartSheetZh {
		t.Errorf("xlsx sheets %v", got)
	}
	r = h.do(t, "GET", "/api/v1/manager/reports?format=xlsx&headers=keys", mgr, nil)
	if f, err := excelize.OpenReader(bytes.NewReader(r.body)); err != nil || f.GetSheetList()[0] != "report" {
		t.Errorf("xlsx with keys: %v", err)
	}
	if r := h.do(t, "GET", "/api/v1/manager/reports?format=csv&headers=en", mgr, nil); r.status != 400 {
		t.Errorf("headers=en: %d", r.status)
	}
}
