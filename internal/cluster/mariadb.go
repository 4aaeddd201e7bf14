package cluster

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"yunpan/fcgi/config"
)

// MariaDB is a private mariadbd listening on 127.0.0.1:Port and on a Unix
// socket in its temp dir, with a user that has a random password.
type MariaDB struct {
	Port     int
	Socket   string
	User     string
	Password string
	Dir      string
	c        *child
	args     []string
	bin      string
}

var dbSeq atomic.Int64

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// lookBin finds the first of names installed, in $PATH or the sbin folders
// (which a user's $PATH often lacks).
func lookBin(tb TB, names ...string) string {
	tb.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
			if p := filepath.Join(d, n); fileExists(p) {
				return p
			}
		}
	}
	tb.Fatalf("none of %v installed", names)
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// StartMariaDB initialises a data dir with mariadb-install-db, starts
// mariadbd on a free port and creates a password user with all privileges.
// It is stopped at Cleanup.
func StartMariaDB(tb TB) *MariaDB {
	tb.Helper()
	dir := tb.TempDir()
	data := filepath.Join(dir, "data")
	// A private tmpdir: the server's temporary tables in the shared /tmp
	// were seen to vanish under concurrent test runs, failing the install.
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		tb.Fatal(err)
	}
	install := lookBin(tb, "mariadb-install-db", "mysql_install_db")
	out, err := exec.Command(install, "--no-defaults", "--datadir="+data, "--tmpdir="+tmp, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput()
	if err != nil {
		tb.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	m := &MariaDB{Port: FreePort(tb), Socket: filepath.Join(dir, "s"), User: "yunpan", Password: randHex(12), Dir: dir}
	m.bin = lookBin(tb, "mariadbd", "mysqld")
	m.args = []string{"--no-defaults", "--datadir=" + data, "--tmpdir=" + tmp, "--socket=" + m.Socket,
		"--port=" + strconv.Itoa(m.Port), "--bind-address=127.0.0.1", "--user=root",
		"--pid-file=" + filepath.Join(dir, "pid"), "--log-error=" + filepath.Join(dir, "err.log"),
		"--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=32M", "--innodb-flush-log-at-trx-commit=2",
		"--max-connections=400", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_bin"}
	m.start(tb)
	tb.Cleanup(m.Stop)

	// Root has no password yet (socket only, in our private dir): create the
	// test user and lock root with a random password.
	root, err := sql.Open("mysql", (&mysql.Config{User: "root", Net: "unix", Addr: m.Socket, AllowNativePasswords: true}).FormatDSN())
	if err != nil {
		tb.Fatal(err)
	}
	defer root.Close()
	for _, q := range []string{
		"CREATE USER '" + m.User + "'@'127.0.0.1' IDENTIFIED BY '" + m.Password + "'",
		"CREATE USER '" + m.User + "'@'localhost' IDENTIFIED BY '" + m.Password + "'",
		"GRANT ALL ON *.* TO '" + m.User + "'@'127.0.0.1'",
		"GRANT ALL ON *.* TO '" + m.User + "'@'localhost'",
		"ALTER USER 'root'@'localhost' IDENTIFIED BY '" + randHex(12) + "'",
	} {
		if _, err := root.Exec(q); err != nil {
			tb.Fatalf("mariadb setup %q: %v", q, err)
		}
	}
	return m
}

func (m *MariaDB) start(tb TB) {
	tb.Helper()
	c, err := startChild("mariadbd", m.bin, m.args...)
	if err != nil {
		tb.Fatal(err)
	}
	m.c = c
	err = poll(c, 60*time.Second, func() error {
		conn, err := net.DialTimeout("unix", m.Socket, time.Second)
		if err != nil {
			return err
		}
		conn.Close()
		conn, err = net.DialTimeout("tcp", m.Addr(), time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	})
	if err != nil {
		c.kill()
		log, _ := os.ReadFile(filepath.Join(m.Dir, "err.log"))
		tb.Fatalf("%v\n%s", err, log)
	}
}

// Addr is "127.0.0.1:port".
func (m *MariaDB) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(m.Port)) }

// DSN is a go-sql-driver DSN over TCP without a database.
func (m *MariaDB) DSN() string { return m.DSNFor("") }

// DSNFor is a DSN over TCP for database db.
func (m *MariaDB) DSNFor(db string) string {
	return (&mysql.Config{User: m.User, Passwd: m.Password, Net: "tcp", Addr: m.Addr(), DBName: db,
		AllowNativePasswords: true, Timeout: 5 * time.Second}).FormatDSN()
}

// AppMySQL is the cfg.json "mysql" object for database db over TCP.
func (m *MariaDB) AppMySQL(db string) config.MySQL {
	return config.MySQL{IP: "127.0.0.1", Port: m.Port, Database: db, User: m.User, Password: m.Password}
}

// NewDatabase returns a fresh database name (not created: the store creates
// it) and drops the database when tb ends.
func (m *MariaDB) NewDatabase(tb TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%s", dbSeq.Add(1), randHex(4))
	tb.Cleanup(func() {
		if m.c != nil && m.c.exited() { // nil: reached through EnvVar
			return
		}
		db, err := sql.Open("mysql", m.DSN())
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`")
	})
	return name
}

// Stop shuts mariadbd down (SIGTERM, then SIGKILL after 30 s).
func (m *MariaDB) Stop() {
	if m.c != nil {
		m.c.stop(30 * time.Second)
	}
}

// Kill crashes mariadbd with SIGKILL.
func (m *MariaDB) Kill() {
	if m.c != nil {
		m.c.kill()
	}
}

// Restart starts mariadbd again on the same port and data after Stop/Kill.
func (m *MariaDB) Restart(tb TB) {
	tb.Helper()
	if m.bin == "" {
		tb.Fatal("mariadb: restart of a server this process did not start")
	}
	m.Stop()
	m.start(tb)
}
