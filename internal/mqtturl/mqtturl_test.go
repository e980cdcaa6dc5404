package mqtturl

import (
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	us, err := Parse(" tcp://127.0.0.1:4222 ,ssl://b:8883,, ws://c/mqtt ")
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 3 || us[0].Host != "127.0.0.1:4222" || !TLS(us[1]) || TLS(us[0]) || us[2].Scheme != "ws" {
		t.Fatalf("Parse = %v", us)
	}
	for _, bad := range []string{"", " , ", "tcp://a:1,http://b:2", "tcp://a:1,tcp://", "::x"} {
		if _, err := Parse(bad); !errors.Is(err, ErrBad) {
			t.Errorf("Parse(%q) = %v, want ErrBad", bad, err)
		}
	}
	if got := Split("a,b , ,c"); len(got) != 3 || got[1] != "b" {
		t.Fatalf("Split = %q", got)
	}
}
