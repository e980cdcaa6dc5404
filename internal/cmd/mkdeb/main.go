// Command mkdeb builds servicehall's Debian packages for one architecture
// from binaries already built for it (see package deb and `make package`):
//
//	mkdeb --arch armhf --version "$(git describe --always --dirty)" --bin bin/pkg/armhf --out bin/pkg
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"github.com/servicehall/servicehall/internal/deb"
)

func main() { os.Exit(run()) }

func run() int {
	arch := flag.String("arch", "amd64", "Debian `architecture`: amd64, arm64 or armhf")
	version := flag.String("version", "dev", "`git describe` output (mapped to a Debian version)")
	bin := flag.String("bin", "bin", "`dir` holding hallctl and firmware-agent built for --arch")
	out := flag.String("out", "bin/pkg", "output `dir`")
	root := flag.String("root", ".", "repository root `dir` (configs/ is read from it)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	v, err := deb.Version(*version)
	if err == nil {
		_, err = deb.Build(ctx, slog.New(slog.NewTextHandler(os.Stderr, nil)), deb.Options{
			Root: *root, BinDir: *bin, Arch: *arch, Version: v, OutDir: *out,
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdeb:", err)
		return 1
	}
	return 0
}
