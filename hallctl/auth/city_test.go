package auth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/servicehall/servicehall/hallctl/auth"
)

func TestCityRing(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	city := auth.MemoryCity("sz", map[string][]byte{"k1": key})
	hall := auth.Memory("h1", map[string][]byte{"k1": key}) // the same key bytes, on purpose
	c := auth.Claims{Role: auth.RoleCity, Subject: "district-9", Halls: []string{"h1", "h2"},
		Issued: t0.Unix(), Expires: t0.Add(8 * time.Hour).Unix()}
	tok, err := city.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := city.Parse(tok, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !got.CanRead("h1") || !got.CanRead("h2") || got.CanRead("h3") {
		t.Fatalf("halls %v", got.Halls)
	}
	if _, err := hall.Parse(tok, t0.Add(time.Hour)); auth.Reason(err) != "audience" {
		t.Fatalf("a hall accepted a city token: %v", err)
	}
	if _, err := city.Parse(tok, t0.Add(9*time.Hour)); !errors.Is(err, auth.ErrTokenExpired) {
		t.Fatalf("expired: %v", err)
	}
	// A hall's manager token is refused by the city.
	mt, err := hall.Sign(auth.Claims{Role: auth.RoleManager, Subject: "m", Issued: t0.Unix(), Expires: t0.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := city.Parse(mt, t0); auth.Reason(err) != "audience" {
		t.Fatalf("city accepted a hall token: %v", err)
	}
	// The city ring signs nothing but role city, and only with halls.
	if _, err := city.Sign(auth.Claims{Role: auth.RoleManager, Subject: "m", Halls: []string{"*"}, Issued: t0.Unix(), Expires: t0.Add(time.Hour).Unix()}); err == nil {
		t.Fatal("city ring signed a manager token")
	}
	if _, err := city.Sign(auth.Claims{Role: auth.RoleCity, Subject: "m", Issued: t0.Unix(), Expires: t0.Add(time.Hour).Unix()}); !errors.Is(err, auth.ErrBadHalls) {
		t.Fatalf("no halls: %v", err)
	}
	if _, err := hall.Sign(auth.Claims{Role: auth.RoleCity, Subject: "m", Halls: []string{"*"}, Issued: t0.Unix(), Expires: t0.Add(time.Hour).Unix()}); err == nil {
		t.Fatal("a hall ring signed a city token")
	}
	// Forged: right key and audience, no halls claim.
	forged := raw(t, jwt.SigningMethodHS256, key, "k1", jwt.MapClaims{"iss": auth.Issuer, "aud": auth.CityAudience("sz"),
		"sub": "x", "role": "city", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix()})
	if _, err := city.Parse(forged, t0); auth.Reason(err) != "halls" {
		t.Fatalf("no halls claim: %v", err)
	}
	// Over the 12 h cap.
	long := raw(t, jwt.SigningMethodHS256, key, "k1", jwt.MapClaims{"iss": auth.Issuer, "aud": auth.CityAudience("sz"),
		"sub": "x", "role": "city", "halls": []string{"*"}, "iat": t0.Unix(), "exp": t0.Add(13 * time.Hour).Unix()})
	if _, err := city.Parse(long, t0); auth.Reason(err) != "lifetime" {
		t.Fatalf("13 h: %v", err)
	}
	all := raw(t, jwt.SigningMethodHS256, key, "k1", jwt.MapClaims{"iss": auth.Issuer, "aud": auth.CityAudience("sz"),
		"sub": "x", "role": "city", "halls": []string{"*"}, "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix()})
	if c, err := city.Parse(all, t0); err != nil || !c.CanRead("anything") {
		t.Fatalf("all halls: %v %v", c, err)
	}
}
