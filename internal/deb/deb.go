// Package deb builds servicehall's Debian packages with nfpm (as a library):
// servicehall-hallctl (the controller) and servicehall-agent (the
// firmware-agent), each with its binary in /usr/bin, its hardened systemd
// unit from configs/systemd, its default config in /etc/servicehall as a
// conffile that an upgrade never overwrites, and its maintainer scripts
// from configs/package.
package deb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	nfpmdeb "github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// Package names and what they install.
const (
	HallctlPackage = "servicehall-hallctl"
	AgentPackage   = "servicehall-agent"

	HallConfig  = "/etc/servicehall/hall.yaml"
	AgentConfig = "/etc/servicehall/agent.yaml"
	HallctlUnit = "/usr/lib/systemd/system/servicehall-hallctl.service"
	AgentUnit   = "/usr/lib/systemd/system/servicehall-agent.service"
	UdevRule    = "/usr/lib/udev/rules.d/60-servicehall-gpio.rules"
)

// Arches are the Debian architectures Build knows, in the order `make
// package` builds them.
var Arches = []string{"amd64", "arm64", "armhf"}

// GoArch is the GOARCH (and GOARM) whose binaries go into a package of
// the Debian architecture arch.
func GoArch(arch string) (goarch, goarm string, err error) {
	switch arch {
	case "amd64", "arm64":
		return arch, "", nil
	case "armhf":
		return "arm", "7", nil
	}
	return "", "", fmt.Errorf("deb: architecture %q: want one of %s", arch, strings.Join(Arches, ", "))
}

var (
	hashRe     = regexp.MustCompile(`^[0-9a-f]{7,40}$`)
	describeRe = regexp.MustCompile(`^(.+)-([0-9]+)-g([0-9a-f]+)$`)
	debVerRe   = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)
)

// Version maps `git describe --always --dirty` output (or "dev") to a
// Debian version, which must start with a digit:
//
//	v1.2.0            → 1.2.0
//	v1.2.0-3-g62e58a1 → 1.2.0+3.g62e58a1 (3 commits after the tag)
//	v1.3.0-rc1        → 1.3.0~rc1        (sorts before 1.3.0)
//	62e58a1           → 0.0.0~git62e58a1 (no tag yet)
//	dev               → 0.0.0~dev
//
// and "-dirty" (uncommitted changes) to "+dirty".
func Version(describe string) (string, error) {
	d := strings.TrimSpace(describe)
	d, dirty := strings.CutSuffix(d, "-dirty")
	var v string
	switch {
	case d == "":
		return "", errors.New("deb: empty version")
	case d == "dev":
		v = "0.0.0~dev"
	case hashRe.MatchString(d):
		v = "0.0.0~git" + d
	default:
		d = strings.TrimPrefix(d, "v")
		tag, after := d, ""
		if m := describeRe.FindStringSubmatch(d); m != nil {
			tag, after = m[1], "+"+m[2]+".g"+m[3]
		}
		v = strings.ReplaceAll(tag, "-", "~") + after
	}
	if dirty {
		v += "+dirty"
	}
	if !debVerRe.MatchString(v) {
		return "", fmt.Errorf("deb: version %q (from %q): a Debian version starts with a digit and holds only letters, digits and . + ~", v, describe)
	}
	return v, nil
}

// FileName is the package file's name: name_version_arch.deb.
func FileName(name, version, arch string) string {
	return name + "_" + version + "_" + arch + ".deb"
}

// Options say what Build packs and where.
type Options struct {
	// Root is the repository root: configs/systemd and configs/package are
	// read from it.
	Root string
	// BinDir holds hallctl and firmware-agent built for Arch.
	BinDir string
	// Arch is the Debian architecture (amd64, arm64, armhf).
	Arch string
	// Version is a Debian version (see Version).
	Version string
	// OutDir receives the .deb files.
	OutDir string
}

// Build writes both packages for o.Arch into o.OutDir and returns their
// paths.
func Build(ctx context.Context, log *slog.Logger, o Options) ([]string, error) {
	if _, _, err := GoArch(o.Arch); err != nil {
		return nil, err
	}
	if !debVerRe.MatchString(o.Version) {
		return nil, fmt.Errorf("deb: version %q is not a Debian version (see deb.Version)", o.Version)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("deb: %w", err)
	}
	var out []string
	for _, info := range []*nfpm.Info{hallctlInfo(o), agentInfo(o)} {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		for _, c := range info.Contents {
			if c.Type == files.TypeDir {
				continue
			}
			if _, err := os.Stat(c.Source); err != nil {
				return out, fmt.Errorf("deb: %s: %w", info.Name, err)
			}
		}
		path := filepath.Join(o.OutDir, FileName(info.Name, o.Version, o.Arch))
		if err := write(info, path); err != nil {
			return out, err
		}
		log.Info("package built", "file", path)
		out = append(out, path)
	}
	return out, nil
}

func write(info *nfpm.Info, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("deb: %w", err)
	}
	err = nfpmdeb.Default.Package(nfpm.WithDefaults(info), f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("deb: %s: %w", info.Name, err)
	}
	return nil
}

func file(src, dst string, mode os.FileMode) *files.Content {
	return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode, Owner: "root", Group: "root"}}
}

// conffile is a config that dpkg never overwrites once edited. It ships
// 0640 root:root; the postinst gives its group to the service user.
func conffile(src, dst string) *files.Content {
	c := file(src, dst, 0o640)
	c.Type = files.TypeConfigNoReplace
	return c
}

func base(o Options, name, desc string) *nfpm.Info {
	return &nfpm.Info{
		Name:          name,
		Arch:          o.Arch,
		Platform:      "linux",
		Version:       o.Version,
		VersionSchema: "none",
		Section:       "misc",
		Priority:      "optional",
		Maintainer:    "servicehall <servicehall@localhost>",
		Homepage:      "https://github.com/servicehall/servicehall",
		Description:   desc,
		Overridables: nfpm.Overridables{
			Depends: []string{"passwd"},
			Deb:     nfpm.Deb{Arch: o.Arch},
		},
	}
}

func hallctlInfo(o Options) *nfpm.Info {
	pkg := filepath.Join(o.Root, "configs", "package")
	info := base(o, HallctlPackage, "servicehall hall controller\n"+
		" hallctl runs a service hall's queue, its embedded MQTT broker, the event\n"+
		" log and the web apps (kiosk, clerk and manager consoles, hall screen).")
	info.Contents = files.Contents{
		file(filepath.Join(o.BinDir, "hallctl"), "/usr/bin/hallctl", 0o755),
		file(filepath.Join(o.Root, "configs", "systemd", "servicehall-hallctl.service"), HallctlUnit, 0o644),
		conffile(filepath.Join(pkg, "hall.yaml"), HallConfig),
	}
	info.Scripts = nfpm.Scripts{
		PostInstall: filepath.Join(pkg, "hallctl-postinst.sh"),
		PreRemove:   filepath.Join(pkg, "hallctl-prerm.sh"),
		PostRemove:  filepath.Join(pkg, "hallctl-postrm.sh"),
	}
	return info
}

func agentInfo(o Options) *nfpm.Info {
	pkg := filepath.Join(o.Root, "configs", "package")
	info := base(o, AgentPackage, "servicehall firmware-agent\n"+
		" firmware-agent drives one board's devices in a service hall (ticket\n"+
		" printers, ID-card readers, keypads, LED screens, buttons, speakers) and\n"+
		" connects them to hallctl over MQTT.")
	info.Suggests = []string{"espeak-ng"}
	info.Contents = files.Contents{
		file(filepath.Join(o.BinDir, "firmware-agent"), "/usr/bin/firmware-agent", 0o755),
		file(filepath.Join(o.Root, "configs", "systemd", "servicehall-agent.service"), AgentUnit, 0o644),
		file(filepath.Join(pkg, "60-servicehall-gpio.rules"), UdevRule, 0o644),
		conffile(filepath.Join(pkg, "agent.yaml"), AgentConfig),
	}
	info.Scripts = nfpm.Scripts{
		PostInstall: filepath.Join(pkg, "agent-postinst.sh"),
		PreRemove:   filepath.Join(pkg, "agent-prerm.sh"),
		PostRemove:  filepath.Join(pkg, "agent-postrm.sh"),
	}
	return info
}
