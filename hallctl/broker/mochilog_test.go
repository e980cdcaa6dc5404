package broker

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestMochiHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(mochiHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})})
	log.Info("attached listener", "id", "tcp")
	log.Warn("", "error", "EOF")
	log.Warn("error processing packet", "client", "k", "pk", "payload with data")
	out := buf.String()
	if strings.Contains(out, "attached") || strings.Contains(out, "EOF") || strings.Contains(out, "payload") {
		t.Errorf("chatter or packet leaked:\n%s", out)
	}
	if !strings.Contains(out, `msg="error processing packet" client=k`) {
		t.Errorf("warning lost:\n%s", out)
	}
	buf.Reset()
	dbg := slog.New(mochiHandler{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})}).With("component", "mqtt")
	dbg.Warn("", "error", "EOF")
	if !strings.Contains(buf.String(), `level=DEBUG msg="mqtt connection ended" component=mqtt error=EOF`) {
		t.Errorf("debug line = %q", buf.String())
	}
}
