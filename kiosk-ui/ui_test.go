package kioskui

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// The apps must work on a hall intranet: no file may load anything from
// another host (CDN, web fonts).
func TestNoRemoteAssets(t *testing.T) {
	remote := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import\s+url\(\s*["']?(https?:)?//|url\(\s*["']?https?://`)
	n := 0
	err := fs.WalkDir(Apps(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := fs.ReadFile(Apps(), p)
		if err != nil {
			return err
		}
		if m := remote.Find(b); m != nil {
			t.Errorf("%s loads a remote resource: %s", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"index.html", "kiosk/index.html", "clerk/index.html", "manager/index.html", "screen/index.html", "t/index.html", "t/t.js", "assets/common.js", "assets/common.css"} {
		if _, err := fs.Stat(Apps(), app); err != nil {
			t.Errorf("missing %s", app)
		}
	}
	if n < 7 {
		t.Errorf("only %d files embedded", n)
	}
	b, _ := fs.ReadFile(Apps(), "kiosk/index.html")
	if !strings.Contains(string(b), `lang="zh-CN"`) {
		t.Error("kiosk is not zh-CN by default")
	}
}
