// Package kv opens Redis through go-redis: a real server in production, or
// an in-process Redis-protocol server in embedded mode, so both run the same
// client code.
package kv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// KV is an open Redis connection and the key prefix this process owns.
type KV struct {
	Client redis.UniversalClient
	// Prefix starts every key this process writes ("rp:" by default); tests
	// give each test its own, so they can share one server.
	Prefix   string
	Embedded bool
	// Cluster says Client is a *redis.ClusterClient: keys a command,
	// script or transaction uses together must share a hash tag.
	Cluster  bool
	embedded *miniredis.Miniredis
}

// DefaultPrefix starts every key in production.
const DefaultPrefix = "rp:"

// Open connects to the Redis at redisURL (ParseURL's forms), or starts
// an embedded server on a loopback port when redisURL is empty. A URL
// naming one address may name a node of a Redis Cluster: Open asks the
// server (INFO cluster) and then talks to the whole cluster.
func Open(ctx context.Context, redisURL string) (*KV, error) {
	if redisURL == "" {
		m := miniredis.NewMiniRedis()
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("kv.Open: embedded redis: %w", err)
		}
		client := redis.NewClient(&redis.Options{Addr: m.Addr(), Protocol: 2})
		return &KV{Client: client, Prefix: DefaultPrefix, Embedded: true, embedded: m}, nil
	}
	set, err := ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("kv.Open: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if set.Server != nil {
		// Asked on database 0: a cluster node refuses to SELECT another.
		probeOpts := *set.Server
		probeOpts.DB = 0
		probe := redis.NewClient(&probeOpts)
		cluster, err := clusterEnabled(ctx, probe)
		if err != nil {
			_ = probe.Close() // never connected; the error is the one to report
			return nil, fmt.Errorf("kv.Open: redis unreachable: %w", err)
		}
		if !cluster && set.Server.DB == 0 {
			return &KV{Client: probe, Prefix: DefaultPrefix}, nil
		}
		_ = probe.Close() // a client on the database asked for, or the cluster's, replaces it
		if !cluster {
			client := redis.NewClient(set.Server)
			if err := client.Ping(ctx).Err(); err != nil {
				_ = client.Close() // never served; the error is the one to report
				return nil, fmt.Errorf("kv.Open: redis unreachable: %w", err)
			}
			return &KV{Client: client, Prefix: DefaultPrefix}, nil
		}
		if set.Server.DB != 0 {
			return nil, fmt.Errorf("kv.Open: %w", errClusterDB(set.Server.DB))
		}
		if set.clusterErr != nil {
			return nil, fmt.Errorf("kv.Open: redis URL names a Redis Cluster node, with an option for one server only: %w", set.clusterErr)
		}
	}
	k := &KV{Client: redis.NewClusterClient(set.Cluster), Prefix: DefaultPrefix, Cluster: true}
	if err := k.Ping(ctx); err != nil {
		_ = k.Client.Close() // never served; the error is the one to report
		return nil, fmt.Errorf("kv.Open: redis cluster unavailable: %w", err)
	}
	return k, nil
}

// clusterEnabled asks a server whether it is a node of a Redis Cluster.
func clusterEnabled(ctx context.Context, c *redis.Client) (bool, error) {
	info, err := c.Info(ctx, "cluster").Result()
	var refused redis.Error
	if errors.As(err, &refused) {
		// A server that answers but knows no "cluster" section (an
		// in-process or older Redis-protocol server) is no cluster node.
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cluster_enabled:"); ok {
			return v == "1", nil
		}
	}
	return false, nil
}

func errClusterDB(db int) error {
	return fmt.Errorf("redis URL names database %d, but a Redis Cluster has database 0 only", db)
}

// Settings are what a Redis URL says: the options of one server, or of a
// cluster's seed nodes.
type Settings struct {
	// Server is the URL read as one server; nil for a cluster URL. Open
	// asks the server whether it is a cluster node, and uses Cluster then.
	Server *redis.Options
	// Cluster is the URL read as a cluster's seed nodes: those named, the
	// first of which may be the only one.
	Cluster *redis.ClusterOptions
	// clusterErr says why a one-server URL reads as no cluster: an option
	// only one server takes. Open reports it when the server is a node.
	clusterErr error
}

// ParseURL checks a Redis URL. It takes two forms:
//
//	redis://[user:password@]host:port[/db]  one server, or one seed node of a cluster
//	redis://[user:password@]host:port?addr=host:port&addr=host:port  a cluster's seed nodes
//
// rediss:// for TLS; query options as go-redis reads them (redis.ParseURL,
// redis.ParseClusterURL). A cluster has database 0 only.
func ParseURL(redisURL string) (Settings, error) {
	if !strings.HasPrefix(redisURL, "redis://") && !strings.HasPrefix(redisURL, "rediss://") {
		return Settings{}, fmt.Errorf("redis URL must start with redis:// or rediss://")
	}
	u, err := url.Parse(redisURL)
	if err != nil {
		return Settings{}, fmt.Errorf("redis URL: %w", err)
	}
	if u.Host == "" {
		return Settings{}, fmt.Errorf("redis URL names no host")
	}
	var set Settings
	if !u.Query().Has("addr") {
		if set.Server, err = redis.ParseURL(redisURL); err != nil {
			return Settings{}, err
		}
	}
	// The cluster reading: no database in the path (a cluster has 0 only).
	db := strings.Trim(u.Path, "/")
	if db != "" && db != "0" {
		if set.Server == nil {
			n, _ := strconv.Atoi(db)
			if n == 0 {
				return Settings{}, fmt.Errorf("redis URL: invalid database %q", db)
			}
			return Settings{}, errClusterDB(n)
		}
		return set, nil // one server's database; Open refuses it on a cluster node
	}
	u.Path = ""
	if set.Cluster, err = redis.ParseClusterURL(u.String()); err != nil {
		if set.Server == nil {
			return Settings{}, err
		}
		// An option only one server takes: fine unless it is a cluster node.
		set.clusterErr = err
	}
	return set, nil
}

// Token is a fresh random value, for versions that must never repeat.
func Token() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Key joins parts under the prefix: Key("lb", "2026-11") is "rp:lb:2026-11".
func (k *KV) Key(parts ...string) string { return k.Prefix + strings.Join(parts, ":") }

// Tag joins parts into a Redis Cluster hash tag: Key(Tag("lb", "2026-11"), "built")
// is "rp:{lb:2026-11}:built". Keys with one tag share a slot, as keys that
// one command, script or transaction uses must on a cluster; keys that
// needn't share one keep apart, to spread the load over the masters.
func Tag(parts ...string) string { return "{" + strings.Join(parts, ":") + "}" }

// Addr is the server's address (host:port), for the embedded server's
// log line; a cluster's seed nodes, joined by commas.
func (k *KV) Addr() string {
	switch c := k.Client.(type) {
	case *redis.Client:
		return c.Options().Addr
	case *redis.ClusterClient:
		return strings.Join(c.Options().Addrs, ",")
	}
	return ""
}

// ErrClusterDown says a node of the Redis Cluster sees it broken
// (cluster_state:fail): some slots have no master it can reach.
var ErrClusterDown = errors.New("kv: Redis Cluster is down (cluster_state not ok)")

// Ping checks that Redis answers: the server, or every master of a
// cluster, each seeing the cluster whole (CLUSTER INFO's cluster_state:ok),
// so that a cluster with slots nobody serves is not healthy.
func (k *KV) Ping(ctx context.Context) error {
	c, ok := k.Client.(*redis.ClusterClient)
	if !ok {
		return k.Client.Ping(ctx).Err()
	}
	var masters atomic.Int32
	err := c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		masters.Add(1)
		info, err := node.ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Errorf("%s: %w", node.Options().Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: %w", node.Options().Addr, ErrClusterDown)
		}
		return nil
	})
	if err == nil && masters.Load() == 0 {
		err = fmt.Errorf("no master serves a slot: %w", ErrClusterDown)
	}
	return err
}

// Close closes the client and stops the embedded server, if any.
func (k *KV) Close() error {
	err := k.Client.Close()
	if k.embedded != nil {
		k.embedded.Close()
	}
	return err
}
