package enrol

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Where the servicehall-agent package reads its files, and who runs it.
const (
	AgentEtc        = "/etc/servicehall"
	AgentServiceUsr = "servicehall-agent"
	AgentUnit       = "servicehall-agent.service"
	AgentStateDir   = "/var/lib/firmware-agent"
)

// Bundle file names (under AgentEtc on the board).
const (
	BundleConfig   = "agent.yaml"
	BundlePassword = "mqtt-password"
	BundleIDKey    = "id-hash.key"
	BundleCA       = "ca.pem"
)

// Bundle is what a board needs to join the hall.
type Bundle struct {
	Record    Record
	Hall      string
	Password  string
	BrokerURL string // tcp://host:1883 or ssl://host:8883
	CA        []byte // PEM roots for TLS (optional)
	// IDKey is the hall secret, the ID-hash key; kiosk agents only (their
	// ID readers hash with it). Never a token key.
	IDKey []byte
	Now   time.Time // modification time of the files
}

// file is one file of a bundle.
type file struct {
	name  string
	mode  int64
	owner string // user owning it on the board
	body  []byte
}

func (b Bundle) files() []file {
	fs := []file{
		{BundleConfig, 0o640, "root", []byte(b.AgentYAML())},
		{BundlePassword, 0o600, AgentServiceUsr, []byte(b.Password + "\n")},
	}
	if b.Record.Kiosk && len(b.IDKey) > 0 {
		fs = append(fs, file{BundleIDKey, 0o600, AgentServiceUsr, append(append([]byte(nil), b.IDKey...), '\n')})
	}
	if len(b.CA) > 0 {
		fs = append(fs, file{BundleCA, 0o644, "root", b.CA})
	}
	return fs
}

// Names lists the bundle's files.
func (b Bundle) Names() []string {
	var out []string
	for _, f := range b.files() {
		out = append(out, f.name)
	}
	return out
}

// WriteTarGz writes the bundle as a gzip'd tar of flat files (extract it
// into AgentEtc). Owners are named for the board (root, servicehall-agent
// group); InstallCommand sets them again in case tar cannot.
func (b Bundle) WriteTarGz(w io.Writer) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	for _, f := range b.files() {
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), ModTime: b.Now,
			Typeflag: tar.TypeReg, Uname: f.owner, Gname: AgentServiceUsr, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("bundle %s: %w", f.name, err)
		}
		if _, err := tw.Write(f.body); err != nil {
			return fmt.Errorf("bundle %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}

// InstallCommand is the one command to run on the board, in the directory
// holding archive. The agent refuses secret files other users may read,
// so they belong to the service user, mode 0600; agent.yaml is
// root:servicehall-agent 0640.
func (b Bundle) InstallCommand(archive string) string {
	var secrets []string
	for _, f := range b.files() {
		if f.mode == 0o600 {
			secrets = append(secrets, AgentEtc+"/"+f.name)
		}
	}
	return "sudo install -d -m 0755 " + AgentEtc +
		" && sudo tar --no-same-owner -xzf " + archive + " -C " + AgentEtc +
		" && sudo chown " + AgentServiceUsr + ":" + AgentServiceUsr + " " + strings.Join(secrets, " ") +
		" && sudo chown root:" + AgentServiceUsr + " " + AgentEtc + "/" + BundleConfig +
		" && sudo systemctl enable --now " + AgentUnit
}

// AgentYAML is the agent's config: identity, broker and credentials, and a
// commented device template for what the hall granted. devices: is empty
// (the agent starts and connects with none) until the installer fills it.
func (b Bundle) AgentYAML() string {
	r := b.Record
	var s strings.Builder
	fmt.Fprintf(&s, "# firmware-agent config for %s in hall %s, made by hallctl agent add.\n", r.ID, b.Hall)
	s.WriteString("# Grants (the hall config is the authority):")
	if r.Kiosk {
		s.WriteString(" kiosk devices;")
	}
	if len(r.Windows) > 0 {
		s.WriteString(" windows " + joinInts(r.Windows) + ";")
	}
	if len(r.Zones) > 0 {
		s.WriteString(" zones " + strings.Join(r.Zones, ", ") + ";")
	}
	s.WriteString("\nagent:\n")
	fmt.Fprintf(&s, "  id: %s\n  hall: %s\n  state_dir: %s\n", r.ID, b.Hall, AgentStateDir)
	if r.Kiosk && len(b.IDKey) > 0 {
		fmt.Fprintf(&s, "  secret_file: %s/%s   # ID readers hash ID numbers with it\n", AgentEtc, BundleIDKey)
	}
	s.WriteString("mqtt:\n")
	fmt.Fprintf(&s, "  url: %q\n  username: %s\n  password_file: %s/%s\n", b.BrokerURL, r.ID, AgentEtc, BundlePassword)
	if len(b.CA) > 0 {
		fmt.Fprintf(&s, "  tls:\n    ca_file: %s/%s\n", AgentEtc, BundleCA)
	}
	s.WriteString("# The devices this board drives. Uncomment and adapt the lines for its\n")
	s.WriteString("# hardware (ports: /dev/serial/by-id/...; GPIO line names), then run\n")
	s.WriteString("#   firmware-agent --config " + AgentEtc + "/" + BundleConfig + " --check\n")
	s.WriteString("#   sudo systemctl restart servicehall-agent\n")
	s.WriteString("devices: []\n")
	s.WriteString("# devices:\n")
	if r.Kiosk {
		s.WriteString("#   - {id: printer-1, kind: escpos-printer, port: /dev/serial/by-id/CHANGE-ME, baud: 9600}\n")
		s.WriteString("#   - {id: btn-1, kind: ticket-button, pin: GPIO17, item: CHANGE-ME, printer: printer-1}\n")
		s.WriteString("#   - {id: reader-1, kind: idcard-reader, port: /dev/serial/by-id/CHANGE-ME, baud: 115200}\n")
		s.WriteString("#   - {id: scan-1, kind: qr-scanner, port: /dev/serial/by-id/CHANGE-ME, baud: 9600}\n")
	}
	for _, w := range r.Windows {
		n := strconv.Itoa(w)
		s.WriteString("#   - {id: caller-" + n + ", kind: caller-keypad, port: /dev/serial/by-id/CHANGE-ME, window: " + n + "}\n")
		s.WriteString("#   - {id: led-" + n + ", kind: led-display, protocol: onbon-bx5k, port: /dev/serial/by-id/CHANGE-ME, address: 1, window: " + n + "}\n")
		s.WriteString("#   - {id: pad-" + n + ", kind: rating-pad, pins: {\"5\": GPIO5, \"4\": GPIO6, \"3\": GPIO13, \"2\": GPIO19, \"1\": GPIO26}, window: " + n + "}\n")
	}
	for _, z := range r.Zones {
		s.WriteString("#   - {id: spk-" + z + ", kind: speaker, zone: " + z + "}\n")
	}
	return s.String()
}

func joinInts(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ", ")
}
