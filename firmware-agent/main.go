// Command firmware-agent runs the devices of one single-board computer in a
// service hall and connects them to hallctl over MQTT (see package agent).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/servicehall/servicehall/firmware-agent/agent"
	"github.com/servicehall/servicehall/firmware-agent/device"
	_ "github.com/servicehall/servicehall/firmware-agent/drivers/all"
	"github.com/servicehall/servicehall/firmware-agent/drivers/idcard"
)

var version = "dev" // set with -ldflags "-X main.version=..."

func main() { os.Exit(run()) }

func run() int {
	cfgPath := flag.String("config", "/etc/firmware-agent/agent.yaml", "agent config `file` (YAML)")
	check := flag.Bool("check", false, "validate the config and exit")
	showVersion := flag.Bool("version", false, "print the version and exit (also: firmware-agent version)")
	flag.Parse()
	if *showVersion || (flag.NArg() == 1 && flag.Arg(0) == "version") {
		fmt.Println("firmware-agent", version)
		return 0
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "firmware-agent: unexpected argument %q (the only command is version)\n", flag.Arg(0))
		return 2
	}
	cfg, err := agent.Load(*cfgPath)
	if err == nil {
		err = cfg.CheckKinds(device.Lookup, device.Kinds())
	}
	for i := 0; err == nil && i < len(cfg.Devices); i++ {
		// Each driver's options, strictly (as the driver will decode
		// them); and the raw ID record may only leave the agent over TLS.
		if err = device.CheckOptions(cfg.Devices[i]); err == nil {
			err = idcard.CheckTransport(cfg.Devices[i], cfg.MQTT.URL)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if *check {
		fmt.Println("config ok:", *cfgPath)
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := agent.DefaultOpts()
	opts.Log, opts.Version = slog.New(slog.NewTextHandler(os.Stderr, nil)), version
	a, err := agent.New(ctx, cfg, opts)
	if err == nil {
		err = a.Run(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "firmware-agent:", err)
		return 1
	}
	return 0
}
