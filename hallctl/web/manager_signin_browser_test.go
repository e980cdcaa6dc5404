package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// A manager signs in to the console with staff id and password (issue 11):
// a wrong password is refused with a message, the right one opens the
// console as that member of staff, and signing out returns to the form.
func TestBrowserManagerStaffSignIn(t *testing.T) {
	browser(t)
	h := staffHall(t)
	m := isolatedTab(t, h.base+"/manager/", 1920, 1080)
	step(t, m, "the sign-in form", chromedp.WaitVisible(chromedp.CSS("#staff-id")))
	axeClean(t, m, "manager sign-in")
	shot(t, m, "manager-signin")
	step(t, m, "wrong password", chromedp.SetValue(chromedp.CSS("#staff-id"), "m1"), chromedp.SetValue(chromedp.CSS("#staff-pw"), "nope"),
		chromedp.Click(chromedp.CSS("#staff-go")), chromedp.Poll[chromedp.Void](`document.getElementById("login-err").textContent.length > 0`))
	if e := text(t, m, "#login-err"); !strings.Contains(e, "登录") && !strings.Contains(e, "密码") {
		t.Errorf("wrong password says %q", e)
	}
	step(t, m, "sign in", chromedp.SetValue(chromedp.CSS("#staff-id"), "m1"), chromedp.SetValue(chromedp.CSS("#staff-pw"), "manager-pw"),
		chromedp.Click(chromedp.CSS("#staff-go")), chromedp.WaitReady(chromedp.CSS(`body[data-ready="1"]`)))
	if who := text(t, m, "#who"); !strings.Contains(who, "m1") && !strings.Contains(who, "陈主任") {
		t.Errorf("signed in as %q", who)
	}
	if eval[bool](t, m, `document.cookie.includes("sh_session")`) {
		t.Error("the session cookie is readable by the page")
	}
	step(t, m, "sign out", chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitVisible(chromedp.CSS("#staff-id")))
}
