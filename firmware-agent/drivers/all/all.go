// Package all links every device driver into firmware-agent: each driver
// registers its kind in init(), so a blank import of this package is all
// the binary needs. Add a line here for each new driver package.
package all

import (
	_ "github.com/servicehall/servicehall/firmware-agent/drivers/button"         // ticket-button
	_ "github.com/servicehall/servicehall/firmware-agent/drivers/escpos/printer" // escpos-printer
	_ "github.com/servicehall/servicehall/firmware-agent/drivers/idcard"         // idcard-reader
	_ "github.com/servicehall/servicehall/firmware-agent/drivers/keypad"         // caller-keypad
	_ "github.com/servicehall/servicehall/firmware-agent/drivers/led"            // led-display
	_ "github.com/servicehall/servicehall/firmware-agent/drivers/ratingpad"      // rating-pad
	_ "github.com/servicehall/servicehall/firmware-agent/drivers/scanner"        // qr-scanner
	_ "github.com/servicehall/servicehall/firmware-agent/drivers/speaker"        // speaker
)
