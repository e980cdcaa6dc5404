package cli

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/servicehall/servicehall/hallctl/auth"
	"github.com/servicehall/servicehall/hallctl/ctl"
	"github.com/servicehall/servicehall/hallctl/store"
	"github.com/servicehall/servicehall/hallctl/web"
)

// A backup is a .tar.gz (mode 0600) of a hall's state directory:
// backup.json (what it is), hallctl.db (a consistent copy of the event
// log, made with VACUUM INTO while serve may run) and the keys and
// secrets the state directory holds (hall.secret, the token key ring,
// the ticket- and case-check keys). docs/operations.md, "Backup and
// restore".

// backupManifest is backup.json.
type backupManifest struct {
	Format  int       `json:"format"` // 1
	Hall    string    `json:"hall"`
	Created time.Time `json:"created"`
	Schema  int       `json:"schema"` // event log schema version
	Files   []string  `json:"files"`
}

const (
	backupManifestName = "backup.json"
	backupDBName       = "hallctl.db"
	backupMaxFile      = 64 << 30 // refuse absurd members of a damaged archive
)

// stateFiles are the state directory's keys and secrets a backup carries
// besides the event log: files, or directories taken whole.
var stateFiles = []string{web.SecretFileName, auth.KeyDir, ctl.TicketKeyFile, ctl.CaseKeyFile}

func stateDirOf(dir string) string {
	if dir == "" {
		return "state"
	}
	return dir
}

func runBackup(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "backup", "--config FILE --out FILE.tar.gz")
	cfgPath := fs.String("config", "", "hall config `file`")
	out := fs.String("out", "", "backup `file` to write (.tar.gz, mode 0600; must not exist)")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	if *out == "" {
		fmt.Fprintln(e.stderr, "hallctl backup: --out is required")
		return 2
	}
	cfg, ok := loadConfig(e, *cfgPath)
	if !ok {
		return 1
	}
	if cfg.Server.Store != "" {
		fmt.Fprintln(e.stderr, "hallctl backup: the event log is in PostgreSQL (server.store): back it up with pg_dump (docs/operations.md, \"PostgreSQL event store\"), and the state dir's keys and secrets with it")
		return 1
	}
	m, err := backup(ctx, stateDirOf(cfg.Server.StateDir), cfg.Hall.ID, *out)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl backup:", err)
		return 1
	}
	fmt.Fprintf(e.stdout, "%s: hall %s, event log schema %d, %d files\n", *out, m.Hall, m.Schema, len(m.Files))
	return 0
}

// backup writes the backup of stateDir to out atomically: a temporary
// file beside it, synced, then renamed.
func backup(ctx context.Context, stateDir, hall, out string) (backupManifest, error) {
	m := backupManifest{Format: 1, Hall: hall, Created: time.Now().UTC()}
	if _, err := os.Stat(out); err == nil {
		return m, fmt.Errorf("%s exists", out)
	}
	tmpDir, err := os.MkdirTemp(filepath.Dir(out), ".hallctl-backup-")
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(tmpDir)
	db := filepath.Join(tmpDir, backupDBName)
	if err := store.BackupTo(ctx, filepath.Join(stateDir, backupDBName), db); err != nil {
		return m, err
	}
	if m.Schema, err = store.Verify(ctx, db); err != nil {
		return m, err
	}
	members := []string{backupDBName}
	for _, name := range stateFiles {
		err := filepath.WalkDir(filepath.Join(stateDir, name), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				rel, _ := filepath.Rel(stateDir, p)
				members = append(members, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return m, err
		}
	}
	m.Files = members

	f, err := os.CreateTemp(filepath.Dir(out), ".hallctl-backup-*.tmp")
	if err != nil {
		return m, err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return m, err
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	mb, _ := json.MarshalIndent(m, "", "  ")
	err = tw.WriteHeader(&tar.Header{Name: backupManifestName, Mode: 0o600, Size: int64(len(mb)), ModTime: m.Created, Typeflag: tar.TypeReg})
	if err == nil {
		_, err = tw.Write(mb)
	}
	for _, name := range members {
		if err != nil {
			break
		}
		src := filepath.Join(stateDir, filepath.FromSlash(name))
		if name == backupDBName {
			src = db
		}
		err = addFile(tw, name, src)
	}
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return m, fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return m, err
	}
	return m, syncDir(filepath.Dir(out))
}

func addFile(tw *tar.Writer, name, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: int64(st.Mode().Perm() & 0o700), Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func runRestore(ctx context.Context, e *env, args []string) int {
	fs := newFlags(e, "restore", "--config FILE --in FILE.tar.gz")
	cfgPath := fs.String("config", "", "hall config `file` (its server.state_dir receives the state)")
	in := fs.String("in", "", "backup `file` made by hallctl backup")
	if ok, code := parseFlagsOnly(fs, args); !ok {
		return code
	}
	if *in == "" {
		fmt.Fprintln(e.stderr, "hallctl restore: --in is required")
		return 2
	}
	cfg, ok := loadConfig(e, *cfgPath)
	if !ok {
		return 1
	}
	if cfg.Server.Store != "" {
		fmt.Fprintln(e.stderr, "hallctl restore: the event log is in PostgreSQL (server.store): restore it with pg_restore (docs/operations.md, \"PostgreSQL event store\")")
		return 1
	}
	m, saved, err := restore(ctx, stateDirOf(cfg.Server.StateDir), cfg.Hall.ID, *in)
	if err != nil {
		fmt.Fprintln(e.stderr, "hallctl restore:", err)
		return 1
	}
	fmt.Fprintf(e.stdout, "restored hall %s (backup of %s, event log schema %d, %d files)\n", m.Hall, m.Created.Format(time.RFC3339), m.Schema, len(m.Files))
	if saved != "" {
		fmt.Fprintf(e.stdout, "the state it replaced is in %s\n", saved)
	}
	return 0
}

// restore checks the backup in a staging directory inside stateDir, then
// swaps it in: the files it replaces move to stateDir/pre-restore-TIME
// (returned; empty when there were none). It refuses while a hallctl
// holds the event log, and holds the log's lock until it is done so none
// starts half way.
func restore(ctx context.Context, stateDir, hall, in string) (backupManifest, string, error) {
	var m backupManifest
	if err := os.MkdirAll(stateDir, 0o750); err != nil {
		return m, "", err
	}
	dbPath := filepath.Join(stateDir, backupDBName)
	lock, err := store.Lock(dbPath)
	if errors.Is(err, store.ErrLocked) {
		return m, "", fmt.Errorf("a hallctl is running on %s: stop it first (%w)", stateDir, err)
	}
	if err != nil {
		return m, "", err
	}
	defer lock.Close()

	stage, err := os.MkdirTemp(stateDir, ".restore-")
	if err != nil {
		return m, "", err
	}
	defer os.RemoveAll(stage)
	if m, err = extract(in, stage); err != nil {
		return m, "", fmt.Errorf("%s: %w", in, err)
	}
	if m.Hall != hall {
		return m, "", fmt.Errorf("%s is a backup of hall %q, the config is hall %q", in, m.Hall, hall)
	}
	if _, err := store.Verify(ctx, filepath.Join(stage, backupDBName)); err != nil {
		return m, "", fmt.Errorf("%s: %w", in, err)
	}

	// Move aside what the backup replaces: the log (with its WAL) and
	// every key file, so that no key survives from the state replaced.
	replace := []string{backupDBName, backupDBName + "-wal", backupDBName + "-shm"}
	replace = append(replace, stateFiles...)
	saved := filepath.Join(stateDir, "pre-restore-"+time.Now().UTC().Format("20060102T150405Z"))
	moved := false
	for _, name := range replace {
		p := filepath.Join(stateDir, name)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if !moved {
			if err := os.Mkdir(saved, 0o700); err != nil {
				return m, "", err
			}
			moved = true
		}
		if err := os.Rename(p, filepath.Join(saved, name)); err != nil {
			return m, saved, fmt.Errorf("move %s aside: %w", name, err)
		}
	}
	for _, name := range m.Files {
		dst := filepath.Join(stateDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return m, saved, err
		}
		if err := os.Rename(filepath.Join(stage, filepath.FromSlash(name)), dst); err != nil {
			return m, saved, fmt.Errorf("put %s in place: %w", name, err)
		}
	}
	if err := syncDir(stateDir); err != nil {
		return m, saved, err
	}
	if !moved {
		saved = ""
	}
	return m, saved, nil
}

// extract unpacks a backup into dir: only the manifest and the regular
// files it lists, with relative paths that stay inside dir, mode 0600.
func extract(in, dir string) (backupManifest, error) {
	var m backupManifest
	f, err := os.Open(in)
	if err != nil {
		return m, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return m, fmt.Errorf("not a hallctl backup: %w", err)
	}
	tr := tar.NewReader(zr)
	got := map[string]bool{}
	for i := 0; ; i++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, fmt.Errorf("not a hallctl backup: %w", err)
		}
		if i == 0 {
			if h.Name != backupManifestName {
				return m, errors.New("not a hallctl backup: no backup.json first")
			}
			if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&m); err != nil || m.Format != 1 {
				return m, fmt.Errorf("not a hallctl backup: backup.json: format %d, %v", m.Format, err)
			}
			continue
		}
		name := h.Name
		if h.Typeflag != tar.TypeReg || !validMember(name) || h.Size > backupMaxFile || got[name] {
			return m, fmt.Errorf("unexpected member %q in the backup", name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return m, err
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return m, err
		}
		_, err = io.Copy(out, io.LimitReader(tr, h.Size))
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return m, err
		}
		got[name] = true
	}
	if len(m.Files) == 0 || m.Files[0] != backupDBName {
		return m, errors.New("not a hallctl backup: no event log listed")
	}
	for _, name := range m.Files {
		if !got[name] {
			return m, fmt.Errorf("truncated backup: %s is missing", name)
		}
	}
	if len(got) != len(m.Files) {
		return m, errors.New("the backup holds files its backup.json does not list")
	}
	return m, nil
}

// validMember: the event log, or a file under one of stateFiles, as a
// clean relative slash path.
func validMember(name string) bool {
	if name != path.Clean(name) || path.IsAbs(name) || strings.HasPrefix(name, "../") || name == ".." {
		return false
	}
	if name == backupDBName {
		return true
	}
	for _, s := range stateFiles {
		if name == s || strings.HasPrefix(name, s+"/") {
			return true
		}
	}
	return false
}
