package sqldb

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// Dialect is one of the three SQL databases Enclave runs on.
type Dialect int

const (
	SQLite Dialect = iota + 1
	Postgres
	MySQL
)

func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgresql"
	case MySQL:
		return "mysql"
	}
	return "unknown"
}

// Config is a parsed database URL.
type Config struct {
	Dialect Dialect
	Driver  string // database/sql driver name
	DSN     string // what the driver is opened with
	Path    string // SQLite: the file ("" for an in-memory database)
	Name    string // the database name (Postgres, MySQL)
	Host    string // the database server's host or socket folder (Postgres, MySQL)
}

// OnThisMachine says whether the database server runs on this machine: its
// host is a loopback name or address, or a Unix socket. It then competes
// with this process for the same cores.
func (c Config) OnThisMachine() bool {
	h := c.Host
	if strings.HasPrefix(h, "/") || strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ParseURL reads a database URL the way SQLAlchemy and the original system do:
//
//	sqlite:///relative.db   sqlite:////abs/path.db   sqlite:///:memory:
//	postgresql://user:pw@host:5432/db   (also postgres://, postgresql+psycopg2://)
//	mysql://user:pw@host:3306/db        (also mysql+pymysql://, mariadb://)
//
// Query parameters of Postgres URLs pass through to the driver (sslmode, ...);
// for MySQL, ssl_ca/ssl_cert/ssl_key are not supported yet and are refused
// rather than silently ignored.
func ParseURL(raw string) (Config, error) {
	if raw == "" {
		return Config{}, fmt.Errorf("database URL is empty")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Config{}, fmt.Errorf("database URL %q has no scheme (want sqlite://, postgresql:// or mysql://)", Redact(raw))
	}
	base, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	switch base {
	case "sqlite":
		return parseSQLite(rest)
	case "postgresql", "postgres":
		u, err := url.Parse("postgres://" + rest)
		if err != nil {
			return Config{}, fmt.Errorf("database URL: %v", Redact(err.Error()))
		}
		name := strings.TrimPrefix(u.Path, "/")
		if u.Host == "" || name == "" {
			return Config{}, fmt.Errorf("postgresql URL %q needs a host and a database name", Redact(raw))
		}
		host := u.Hostname()
		if h := u.Query().Get("host"); h != "" {
			host, _, _ = strings.Cut(h, ",") // libpq's host parameter wins over the URL's host
		}
		return Config{Dialect: Postgres, Driver: "pgx", DSN: u.String(), Name: name, Host: host}, nil
	case "mysql", "mariadb":
		return parseMySQL(raw, rest)
	}
	return Config{}, fmt.Errorf("database URL scheme %q is not supported (want sqlite, postgresql or mysql)", scheme)
}

func parseSQLite(rest string) (Config, error) {
	// sqlite:///rel.db → rest "/rel.db"; sqlite:////abs.db → rest "//abs.db".
	if !strings.HasPrefix(rest, "/") {
		return Config{}, fmt.Errorf("sqlite URL must look like sqlite:///relative.db or sqlite:////absolute/path.db")
	}
	path := rest[1:]
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" || path == ":memory:" {
		return Config{Dialect: SQLite, Driver: "sqlite", DSN: "file::memory:?" + sqlitePragmas}, nil
	}
	if !filepath.IsAbs(path) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return Config{}, err
		}
		path = abs
	}
	return Config{Dialect: SQLite, Driver: "sqlite", DSN: "file:" + path + "?" + sqlitePragmas, Path: path}, nil
}

// WAL lets readers go on while one writer writes; the busy timeout makes the
// other writers wait instead of failing; immediate transactions take the write
// lock up front so two transactions cannot deadlock upgrading their locks.
// Commits never checkpoint (wal_autocheckpoint 0): the pool's checkpointer
// does, off the writers' path (see DB.checkpoints); the WAL file is cut back
// to 64 MiB when it is reset.
var sqlitePragmas = "_pragma=busy_timeout(" + strconv.FormatInt(busyWait.Milliseconds(), 10) + ")&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)" +
	"&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(67108864)&_txlock=immediate"

func parseMySQL(raw, rest string) (Config, error) {
	u, err := url.Parse("mysql://" + rest)
	if err != nil {
		return Config{}, fmt.Errorf("database URL: %v", Redact(err.Error()))
	}
	name := strings.TrimPrefix(u.Path, "/")
	if u.Host == "" || name == "" {
		return Config{}, fmt.Errorf("mysql URL %q needs a host and a database name", Redact(raw))
	}
	c := mysql.NewConfig()
	c.User = u.User.Username()
	c.Passwd, _ = u.User.Password()
	c.Net = "tcp"
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "3306"
	}
	c.Addr = net.JoinHostPort(host, port)
	c.DBName = name
	c.ParseTime = false
	c.MultiStatements = false
	// UPDATE reports the rows it matched, as SQLite and PostgreSQL do, not only those it changed.
	c.ClientFoundRows = true
	c.Params = map[string]string{"charset": "utf8mb4"}
	c.Collation = "utf8mb4_bin"
	// Arguments are written into the statement by the driver, escaped for
	// utf8mb4, rather than sent after a prepare of their own: one round
	// trip a statement instead of two (0.09 ms each on a local MariaDB).
	// A statement too long for one packet is still prepared.
	c.InterpolateParams = true
	for k := range u.Query() {
		return Config{}, fmt.Errorf("mysql URL parameter %q is not supported", k)
	}
	return Config{Dialect: MySQL, Driver: "mysql", DSN: c.FormatDSN(), Name: name, Host: host}, nil
}

// Redact hides the password of any URL inside s, for logs and messages.
func Redact(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	userinfo := rest[:at]
	if user, _, ok := strings.Cut(userinfo, ":"); ok {
		return s[:i+3] + user + ":xxxxx" + rest[at:]
	}
	return s
}

// BuildURL makes a URL from its parts, escaping what needs escaping, for
// configurations that give host, user and password separately.
func BuildURL(dialect, host, port, user, password, name string) (string, error) {
	switch strings.ToLower(dialect) {
	case "postgresql", "postgres":
		dialect = "postgresql"
	case "mysql", "mariadb":
		dialect = "mysql"
	default:
		return "", fmt.Errorf("database type %q is not supported (want postgresql or mysql)", dialect)
	}
	if host == "" || name == "" {
		return "", fmt.Errorf("database host and name are required")
	}
	u := url.URL{Scheme: dialect, Host: host, Path: "/" + name}
	if port != "" {
		u.Host = net.JoinHostPort(host, port)
	}
	if user != "" {
		if password != "" {
			u.User = url.UserPassword(user, password)
		} else {
			u.User = url.User(user)
		}
	}
	return u.String(), nil
}

// WithCredentials replaces the user and password of a postgresql or mysql URL,
// for a password mounted from a secret apart from the URL.
func WithCredentials(raw, user, password string) (string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || strings.HasPrefix(strings.ToLower(scheme), "sqlite") {
		return raw, nil
	}
	u, err := url.Parse("x://" + rest)
	if err != nil {
		return "", fmt.Errorf("database URL: %v", Redact(err.Error()))
	}
	if user == "" {
		user = u.User.Username()
	}
	if password == "" {
		password, _ = u.User.Password()
	}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return scheme + "://" + strings.TrimPrefix(u.String(), "x://"), nil
}
