// Package escpos is our own ESC/POS encoder and status parser for Chinese
// queue-ticket printers (protocols/DEVICES.md §1).
//
// The encoder (Builder) writes GB18030 text in Chinese mode (FS &; FS . is
// never sent), character sizes (GS !), alignment, bold, feed, feed-and-cut
// (GS V 66 n), native QR codes (GS ( k) and a raster QR fallback (GS v 0).
// Text goes through Font, which applies the documented replacement rule for
// characters the printer's font lacks (see Font.Encode).
//
// The status side (StatusParser, Status) splits one byte stream from the
// printer into DLE EOT replies, GS r replies, Automatic Status Back blocks
// and XON/XOFF, following the identification table of DEVICES.md §1.3, and
// folds them into a Status with stable wire codes (paper_out, cover_open…).
//
// The package does no I/O; the driver is in escpos/printer, the emulator in
// escpos/escposemu, the ticket and receipt layouts in escpos/ticket.
package escpos
