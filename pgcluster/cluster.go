package pgcluster

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// InstallHint says how to get PostgreSQL on Debian.
const InstallHint = "PostgreSQL is needed for the database tests: apt-get install postgresql (or run scripts/install-deps.sh)"

// Cluster is a running throwaway PostgreSQL cluster. It is safe for
// concurrent use.
type Cluster struct {
	dir, bin string
	port     int
	cred     *syscall.Credential // nil: run as ourselves

	mu      sync.Mutex
	stopped bool
	dbs     int
}

// findBin locates PostgreSQL's server programs: on PATH, else Debian's
// versioned directory (the newest).
func findBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return a > b
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("pgcluster: initdb and pg_ctl not found")
}

// Start creates and starts a cluster in a new directory under base ("" for
// the system temp directory).
func Start(base string) (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, InstallHint)
	}
	dir, err := os.MkdirTemp(base, "pgcluster-")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	c := &Cluster{dir: dir, bin: bin}
	if os.Geteuid() == 0 {
		if c.cred, err = nobody(); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		// The cluster's user must reach and own its directory.
		if err := os.Chmod(dir, 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
	}
	if err := c.run("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// start runs postgres on a free port; another process can take the port
// between our probe and postgres' bind, so a failed start is retried.
func (c *Cluster) start() error {
	var last error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return err
		}
		c.port = port
		opts := fmt.Sprintf("-k %s -p %d -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=on", c.dir, port)
		if last = c.run("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "postgres.log"), "-w", "-t", "60", "-o", opts, "start"); last == nil {
			return nil
		}
	}
	return last
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// Log returns what the server has written to its log so far, for tests
// that read what it reports there (plans that auto_explain logs).
func (c *Cluster) Log() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	return b, nil
}

func (c *Cluster) run(prog string, args ...string) error {
	cmd := exec.Command(filepath.Join(c.bin, prog), args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
		return fmt.Errorf("pgcluster: %s: %w: %s %s", prog, err, out.Bytes(), tail(log, 2000))
	}
	return nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func nobody() (*syscall.Credential, error) {
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: running as root needs the user nobody: %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL is the connection URL of database db, over TCP on 127.0.0.1.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// CreateDatabase creates a fresh database and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context, prefix string) (string, error) {
	c.mu.Lock()
	c.dbs++
	name := fmt.Sprintf("%s_%d", sanitize(prefix), c.dbs)
	c.mu.Unlock()
	db, err := sql.Open("pgx", c.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		return "", fmt.Errorf("pgcluster: create database %s: %w", name, err)
	}
	return c.URL(name), nil
}

// sanitize makes a database name of letters, digits and '_', at most 40
// bytes.
func sanitize(s string) string {
	b := []byte{}
	for i := 0; i < len(s) && len(b) < 40; i++ {
		ch := s[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '_':
			b = append(b, ch)
		case ch >= 'A' && ch <= 'Z':
			b = append(b, ch+'a'-'A')
		default:
			b = append(b, '_')
		}
	}
	if len(b) == 0 || b[0] >= '0' && b[0] <= '9' {
		b = append([]byte("db_"), b...)
	}
	return string(b)
}

// Stop stops the cluster at once and removes its directory.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	err := c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
	if rerr := os.RemoveAll(c.dir); err == nil {
		err = rerr
	}
	return err
}
