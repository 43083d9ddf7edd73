package app

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"entgo.io/ent/dialect"

	"github.com/changzhi/redpoint/service/attachments"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/objects"
	"github.com/changzhi/redpoint/service/resident"
	"github.com/changzhi/redpoint/service/store"
	"github.com/changzhi/redpoint/service/wechat"
)

// Config is the process configuration. The zero value plus Defaults serves
// the embedded mode.
type Config struct {
	GRPCAddr string // REDPOINT_GRPC_ADDR
	HTTPAddr string // REDPOINT_HTTP_ADDR
	// AdminAddr serves /metrics (and /healthz) to operators only
	// (REDPOINT_ADMIN_ADDR); loopback unless set.
	AdminAddr   string
	DataDir     string // REDPOINT_DATA_DIR
	DatabaseURL string // REDPOINT_DATABASE_URL; empty: SQLite in DataDir
	// DatabaseReplicaURL is a streaming read replica of DatabaseURL's
	// PostgreSQL for the heavy reads (REDPOINT_DATABASE_REPLICA_URL;
	// store.Store.Reads); empty: every read on the primary.
	DatabaseReplicaURL string
	// DatabaseReplicaMaxLag is how far behind the replica may be for the
	// heavy reads to use it (REDPOINT_DATABASE_REPLICA_MAX_LAG);
	// store.DefaultReplicaLag when 0.
	DatabaseReplicaMaxLag time.Duration
	RedisURL              string // REDPOINT_REDIS_URL; empty: embedded Redis
	// S3URL is the attachments' bucket (REDPOINT_S3_URL,
	// objects.ParseURL's form); empty in embedded mode: an in-process
	// S3-protocol server storing under DataDir/objects.
	S3URL string
	// RetentionDays is how many days materials are kept after their
	// errand closes (REDPOINT_ATTACHMENT_RETENTION_DAYS); 30 when 0.
	RetentionDays int
	PIIKey        string // REDPOINT_PII_KEY; empty in embedded mode: a key file in DataDir
	AuthKey       string // REDPOINT_AUTH_KEY; empty in embedded mode: a key file in DataDir
	LogLevel      string // REDPOINT_LOG_LEVEL: debug, info, warn, error
	// TrustedProxies is how many load balancers stand in front of the
	// REST port (REDPOINT_TRUSTED_PROXIES); it tells clients' addresses
	// from the proxies' for rate limits and the audit log.
	TrustedProxies int
	// WeChat: REDPOINT_WECHAT_BASE_URL, REDPOINT_WECHAT_APP_ID,
	// REDPOINT_WECHAT_APP_SECRET. `serve --demo` starts a loopback fake
	// when the base URL is empty.
	WeChat wechat.Config
	// WeChatTemplate is the subscribe-message template of state changes
	// (REDPOINT_WECHAT_TEMPLATE_ID); WeChatTemplates gives states their own
	// (REDPOINT_WECHAT_TEMPLATE_IDS, "COMPLETED=id,NEEDS_MATERIALS=id").
	// A state with neither: residents get no message of it.
	WeChatTemplate, WeChatTemplates string
}

func (c Config) templates() (resident.Templates, error) {
	t, err := resident.ParseTemplates(c.WeChatTemplate, c.WeChatTemplates)
	if err != nil {
		return t, fmt.Errorf("REDPOINT_WECHAT_TEMPLATE_IDS: %w", err)
	}
	return t, nil
}

// retention is how long materials outlive their errand.
func (c Config) retention() time.Duration {
	if c.RetentionDays == 0 {
		return attachments.DefaultRetention
	}
	return time.Duration(c.RetentionDays) * 24 * time.Hour
}

// Defaults are the embedded mode's settings.
func Defaults() Config {
	return Config{GRPCAddr: ":9090", HTTPAddr: ":8080", AdminAddr: "127.0.0.1:8081", DataDir: "./redpoint-data", LogLevel: "info"}
}

// Embedded reports whether the database is the embedded SQLite.
func (c Config) Embedded() bool { return c.DatabaseURL == "" }

func (c Config) databaseTarget() string { return store.Target(c.DatabaseURL, c.DataDir) }

// Validate checks every setting and names the bad one.
func (c Config) Validate() error {
	for _, a := range []struct{ name, value string }{{"REDPOINT_GRPC_ADDR", c.GRPCAddr}, {"REDPOINT_HTTP_ADDR", c.HTTPAddr}, {"REDPOINT_ADMIN_ADDR", c.AdminAddr}} {
		if _, _, err := net.SplitHostPort(a.value); err != nil {
			return fmt.Errorf("%s: %q is not host:port: %w", a.name, a.value, err)
		}
	}
	if c.DatabaseURL == "" && c.DataDir == "" {
		return fmt.Errorf("REDPOINT_DATA_DIR: empty, and no REDPOINT_DATABASE_URL")
	}
	if c.DatabaseURL != "" {
		if _, _, err := store.ParseURL(c.DatabaseURL); err != nil {
			return fmt.Errorf("REDPOINT_DATABASE_URL: %w", err)
		}
	}
	if err := c.validateReplica(); err != nil {
		return err
	}
	if c.RedisURL != "" {
		if _, err := kv.ParseURL(c.RedisURL); err != nil {
			return fmt.Errorf("REDPOINT_REDIS_URL: %w", err)
		}
	}
	if _, err := c.Level(); err != nil {
		return err
	}
	if c.S3URL != "" {
		if _, err := objects.ParseURL(c.S3URL); err != nil {
			return fmt.Errorf("REDPOINT_S3_URL: %w", err)
		}
	} else if !c.Embedded() {
		return fmt.Errorf("REDPOINT_S3_URL: required with REDPOINT_DATABASE_URL (every replica must store attachments in one bucket)")
	}
	if c.RetentionDays < 0 || c.RetentionDays > 3650 || (c.RetentionDays != 0 && c.RetentionDays <= errands.ReopenDays) {
		// Materials must outlive a resident's right to reopen the errand.
		return fmt.Errorf("REDPOINT_ATTACHMENT_RETENTION_DAYS: %d is not 0 (30) or %d–3650", c.RetentionDays, errands.ReopenDays+1)
	}
	if c.TrustedProxies < 0 || c.TrustedProxies > 10 {
		return fmt.Errorf("REDPOINT_TRUSTED_PROXIES: %d is not 0–10", c.TrustedProxies)
	}
	if _, err := c.templates(); err != nil {
		return err
	}
	return nil
}

func (c Config) validateReplica() error {
	if c.DatabaseReplicaURL != "" {
		if d, _, err := store.ParseURL(c.DatabaseURL); c.Embedded() || err != nil || d != dialect.Postgres {
			return fmt.Errorf("REDPOINT_DATABASE_REPLICA_URL: a read replica needs a postgres:// REDPOINT_DATABASE_URL (the embedded SQLite has none)")
		}
		if d, _, err := store.ParseURL(c.DatabaseReplicaURL); err != nil || d != dialect.Postgres {
			return fmt.Errorf("REDPOINT_DATABASE_REPLICA_URL: %q is not a postgres:// URL", store.MaskURL(c.DatabaseReplicaURL))
		}
	}
	if l := c.DatabaseReplicaMaxLag; l != 0 && (l < store.MinReplicaLag || l > store.MaxReplicaLag) {
		return fmt.Errorf("REDPOINT_DATABASE_REPLICA_MAX_LAG: %v is not 0 (%v) or %v–%v", l, store.DefaultReplicaLag, store.MinReplicaLag, store.MaxReplicaLag)
	}
	return nil
}

// replicaLag is DatabaseReplicaMaxLag, defaulted.
func (c Config) replicaLag() time.Duration {
	if c.DatabaseReplicaMaxLag == 0 {
		return store.DefaultReplicaLag
	}
	return c.DatabaseReplicaMaxLag
}

// warnIfDataDirShared warns when group or others may enter the embedded
// mode's data dir. Redpoint makes the dir 0700 and its files 0600, and
// takes group and other access from files an earlier start left, so their
// contents stay private; but a dir that was already there keeps its mode —
// it may not be redpoint's alone (a home directory, a shared mount) — and
// shows the files' names and sizes.
func (c Config) warnIfDataDirShared(log *slog.Logger) {
	if !c.Embedded() {
		return
	}
	fi, err := os.Stat(c.DataDir)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	log.Warn("data dir is open to group or others: chmod 700 it", "data_dir", c.DataDir, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
}

// Level parses LogLevel.
func (c Config) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("REDPOINT_LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// LogAttrs is the effective configuration for the start-up log line, with
// secrets masked.
func (c Config) LogAttrs() []any {
	mode := "production"
	if c.Embedded() {
		mode = "embedded"
	}
	redis := "embedded"
	if c.RedisURL != "" {
		redis = store.MaskURL(c.RedisURL)
	}
	database := "sqlite:" + c.DataDir
	if !c.Embedded() {
		database = store.MaskURL(c.DatabaseURL)
	}
	replica := "none"
	if c.DatabaseReplicaURL != "" {
		replica = store.MaskURL(c.DatabaseReplicaURL) + " max lag " + c.replicaLag().String()
	}
	wx := "off"
	if c.WeChat.BaseURL != "" {
		wx = c.WeChat.BaseURL + " app " + c.WeChat.AppID
	}
	pii := "key file in data dir"
	if c.PIIKey != "" {
		pii = "REDPOINT_PII_KEY (set)"
	}
	objectStore := "embedded: " + c.DataDir + "/objects"
	if c.S3URL != "" {
		objectStore = store.MaskURL(c.S3URL)
	}
	authKey := "key file in data dir"
	if c.AuthKey != "" {
		authKey = "REDPOINT_AUTH_KEY (set)"
	}
	return []any{"mode", mode, "auth_key", authKey, "grpc_addr", c.GRPCAddr, "http_addr", c.HTTPAddr, "admin_addr", c.AdminAddr, "data_dir", c.DataDir,
		"database", database, "database_replica", replica, "redis", redis, "objects", objectStore, "retention_days", int(c.retention().Hours() / 24), "pii_keys", pii, "wechat", wx, "log_level", c.LogLevel}
}
