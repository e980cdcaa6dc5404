package sim

import (
	"testing"

	"github.com/servicehall/servicehall/hallctl/config"
)

func FuzzParseArrivals(f *testing.F) {
	cfg, err := config.Parse("h.yaml", []byte(`hall: {id: h, name: h}
departments: [{code: X, name: x}]
items: [{code: X-1, name: x, dept: X, prefix: A}, {code: X-2, name: y, dept: X, prefix: B}]
windows: [{number: 1, dept: X, serves: ["*"]}]
`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("t_s,item,class,service_s,no_show\n1.5,X-1,walkin,60,0\n2,X-2,green,30,1\n"))
	f.Add([]byte("t_s,item,class,service_s,no_show\n"))
	f.Add([]byte("\ufefft_s,item,class,service_s,no_show\r\n1,X-1,elderly,1e3,0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		arr, err := ParseArrivals("f.csv", b, cfg)
		if err != nil {
			return
		}
		last := 0.0
		for _, a := range arr {
			if a.T < last || a.ServiceS < 0 || (a.Item != "X-1" && a.Item != "X-2") {
				t.Fatalf("accepted a bad row %+v", a)
			}
			last = a.T
		}
		// Whatever parses also simulates without error.
		c := *cfg
		if _, err := Run(&c, arr, 0); err != nil {
			t.Fatal(err)
		}
	})
}
