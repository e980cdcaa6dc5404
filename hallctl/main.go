// Command hallctl runs a service hall: the queue engine, the MQTT link to
// the hall's device agents, the event log, and the web apps. See README.md
// and `hallctl help`.
package main

import (
	"os"

	"github.com/servicehall/servicehall/hallctl/cli"
)

var version = "dev"

func main() {
	os.Exit(cli.Main(version, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
