package app

import (
	"strings"
	"testing"
	"time"
)

func TestConfigNamesTheBadSetting(t *testing.T) {
	cases := []struct {
		name    string
		change  func(*Config)
		setting string
	}{
		{"address", func(c *Config) { c.HTTPAddr = "8080" }, "REDPOINT_HTTP_ADDR"},
		{"database", func(c *Config) { c.DatabaseURL = "mysql://x" }, "REDPOINT_DATABASE_URL"},
		{"redis", func(c *Config) { c.RedisURL = "127.0.0.1:6379" }, "REDPOINT_REDIS_URL"},
		{"redis cluster with a database", func(c *Config) { c.RedisURL = "redis://10.0.0.1:7001/2?addr=10.0.0.2:7001" }, "REDPOINT_REDIS_URL"},
		{"redis cluster with a bad seed", func(c *Config) { c.RedisURL = "redis://10.0.0.1:7001?addr=10.0.0.2" }, "REDPOINT_REDIS_URL"},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, "REDPOINT_LOG_LEVEL"},
		{"proxies", func(c *Config) { c.TrustedProxies = -1 }, "REDPOINT_TRUSTED_PROXIES"},
		{"template without id", func(c *Config) { c.WeChatTemplates = "COMPLETED=" }, "REDPOINT_WECHAT_TEMPLATE_IDS"},
		{"template of no state", func(c *Config) { c.WeChatTemplates = "DONE=tpl-1" }, "REDPOINT_WECHAT_TEMPLATE_IDS"},
		{"replica of the embedded SQLite", func(c *Config) { c.DatabaseReplicaURL = "postgres://postgres@127.0.0.1:5433/test" }, "REDPOINT_DATABASE_REPLICA_URL"},
		{"replica not PostgreSQL", func(c *Config) {
			c.DatabaseURL, c.S3URL, c.DatabaseReplicaURL = "postgres://postgres@127.0.0.1/test", "http://ak:sk@127.0.0.1:1/redpoint?lookup=path", "sqlite:/tmp/x.db"
		}, "REDPOINT_DATABASE_REPLICA_URL"},
		{"replica lag below a second", func(c *Config) { c.DatabaseReplicaMaxLag = 100 * time.Millisecond }, "REDPOINT_DATABASE_REPLICA_MAX_LAG"},
		{"replica lag over ten minutes", func(c *Config) { c.DatabaseReplicaMaxLag = time.Hour }, "REDPOINT_DATABASE_REPLICA_MAX_LAG"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Defaults()
			tc.change(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.setting) {
				t.Errorf("Validate() = %v, want an error naming %s", err, tc.setting)
			}
		})
	}
	c := Defaults()
	c.DatabaseURL, c.S3URL = "postgres://postgres@127.0.0.1/test", "http://ak:sk@127.0.0.1:1/redpoint?lookup=path"
	c.DatabaseReplicaURL, c.DatabaseReplicaMaxLag = "postgres://postgres@127.0.0.1:5433/test", 30*time.Second
	if err := c.Validate(); err != nil {
		t.Errorf("a PostgreSQL replica of a PostgreSQL primary: %v", err)
	}
	c = Defaults()
	c.WeChatTemplate, c.WeChatTemplates = "tpl-default", " COMPLETED=tpl-done, ERRAND_STATE_NEEDS_MATERIALS=tpl-materials ,"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	tpl, err := c.templates()
	if err != nil {
		t.Fatal(err)
	}
	for state, want := range map[string]string{"COMPLETED": "tpl-done", "NEEDS_MATERIALS": "tpl-materials", "IN_PROGRESS": "tpl-default"} {
		if got := tpl.For(state); got != want {
			t.Errorf("template of %s = %q, want %q", state, got, want)
		}
	}
}
