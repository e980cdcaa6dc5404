package idcard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/servicehall/servicehall/displays/layout"
	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard/sam"
	"github.com/servicehall/servicehall/wire"
)

// HashID is the keyed hash the controller de-duplicates on:
// hex(HMAC-SHA256(secret, upper-case ID number)).
func HashID(secret []byte, id string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(strings.ToUpper(id)))
	return hex.EncodeToString(m.Sum(nil))
}

// MaskID keeps the 6-digit region and the last 4 characters:
// 11010519491231002X → 110105********002X. Shorter inputs are fully masked.
func MaskID(id string) string {
	if len(id) < 11 {
		return strings.Repeat("*", len(id))
	}
	return id[:6] + strings.Repeat("*", len(id)-10) + strings.ToUpper(id[len(id)-4:])
}

// MaskName keeps the first and, for three or more characters, the last
// character: 张三丰 → 张*丰, 欧阳娜娜 → 欧**娜, 张三 → 张*, 张 → *. It is
// the public screens' rule (displays/layout.MaskName), so a masked name
// reads the same wherever it appears.
func MaskName(name string) string { return layout.MaskName(name) }

// Sex values in wire.Card.
const (
	SexMale   = "M"
	SexFemale = "F"
)

// ValidLongTerm is wire.Card.ValidTo for long-term (长期) cards.
const ValidLongTerm = "long-term"

// MakeCard builds the evt/card data of a validated record: keyed hash,
// masked forms, birth year, sex ("M"/"F"), valid-to ("2030-01-02" or
// "long-term"). Raw (name and number) is filled only when raw is true.
func MakeCard(id sam.Identity, secret []byte, raw bool) wire.Card {
	c := wire.Card{
		IDHash:     HashID(secret, id.ID),
		MaskedID:   MaskID(strings.ToUpper(id.ID)),
		MaskedName: MaskName(id.Name),
		ValidTo:    ValidLongTerm,
	}
	if len(id.Birth) == 8 {
		for _, d := range id.Birth[:4] {
			c.BirthYear = c.BirthYear*10 + int(d-'0')
		}
	}
	switch id.Sex {
	case "1":
		c.Sex = SexMale
	case "2":
		c.Sex = SexFemale
	}
	if id.ValidTo != sam.ValidForever && len(id.ValidTo) == 8 {
		c.ValidTo = id.ValidTo[:4] + "-" + id.ValidTo[4:6] + "-" + id.ValidTo[6:]
	}
	if raw {
		c.Raw = &wire.CardRaw{Name: id.Name, ID: strings.ToUpper(id.ID)}
	}
	return c
}
