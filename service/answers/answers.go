// Package answers keeps the rendered answers of the reads people repeat
// all day — a resident's errands, an agent's errand and lists, the public
// directory — so that a repeated read, and above all a 304 to a poller's
// If-None-Match, is answered from memory without the database.
//
// An answer depends on scopes: named sets of data such as one errand, the
// errands at one service point or under one region, the errands logged
// with one phone, the directory. Every write bumps the scopes it touches,
// after its transaction commits: on this replica at once (a generation
// counter), in Redis (a fresh random version per scope) and to the other
// replicas (a message on a channel they all listen to). An answer
// remembers the generations and versions of its scopes from before its
// read, and is served again only while they stand.
//
// Staleness is bounded as for the public lookup (resident.Lookup): on the
// replica that made a change, none once the writer's call returns; on the
// others, the channel's delivery time, and LocalTTL when a message is lost
// (memory asks Redis at least that often). A bump that Redis missed is
// made again from the outbox. Answers that time alone changes (an errand
// becoming overdue, a rating window closing) carry the instant they
// change, and none lives longer than MaxAge.
package answers

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/changzhi/redpoint/service/kv"
	"github.com/changzhi/redpoint/service/regioncode"
	"github.com/changzhi/redpoint/service/server"
)

// LocalTTL is how long a replica trusts its memory of a scope without
// asking Redis: the bound on staleness when the news of a change on
// another replica is lost.
const LocalTTL = 2 * time.Second

// MaxAge bounds an answer's life, whatever its scopes say.
const MaxAge = 10 * time.Minute

// versionTTL outlives every answer by far: a version that expired reads as
// "", which an answer from before it was ever set would match.
const versionTTL = 6 * MaxAge

// MaxBytes bounds the memory the answers take (their JSON, and the
// messages counted at twice that); past it the oldest-looking go first.
const MaxBytes = 64 << 20

// Scopes. Every change of an errand bumps ErrandScopes of its row before
// and after the change.
const (
	// Directory is regions, service points and errand types: the names
	// every errand answer shows.
	Directory = "directory"
	// Calendar is the holiday calendar the SLA flags are computed on.
	Calendar = "calendar"
)

// Errand is one errand.
func Errand(id int) string { return "errand:" + strconv.Itoa(id) }

// Point is the errands at one service point (an agent's lists).
func Point(id int) string { return "point:" + strconv.Itoa(id) }

// Region is the errands under a region (a secretary's lists).
func Region(c regioncode.Code) string { return "region:" + c.Prefix() }

// Phone is the errands logged with one phone (by its hash): a resident's
// errands are those of the phone they hold.
func Phone(hash string) string { return "phone:" + hash }

// Resident is what a resident holds: their phone.
func Resident(id int) string { return "resident:" + strconv.Itoa(id) }

// RegionTree is Region of code and of every region above it: a change of
// an errand there changes all their lists.
func RegionTree(code regioncode.Code) []string {
	p := code.Prefix()
	out := make([]string, 0, 5)
	for _, n := range []int{2, 4, 6, 9, 12} {
		if n > len(p) {
			break
		}
		out = append(out, "region:"+p[:n])
	}
	return out
}

// Cache is one replica's answers and its view of the scopes' versions.
type Cache struct {
	kv      *kv.KV
	log     *slog.Logger
	now     func() time.Time // the domain's clock, which answers' expiry is on
	etagKey []byte
	id      string // this replica's name on the channel: its own news is not news
	served  *prometheus.CounterVec
	changes *redis.PubSub
	gens    [4096]atomic.Uint64 // bumped by every change of a scope hashing there

	mu      sync.Mutex
	answers map[string]*Answer
	bytes   int
}

// Answer is one rendered answer: the message for gRPC, its JSON and ETag
// for REST, and what it was read at.
type Answer struct {
	cache    *Cache
	msg      proto.Message
	json     []byte
	etag     string
	scopes   []string
	gens     []uint64
	versions []string
	expires  time.Time    // by the domain's clock
	checked  atomic.Int64 // when Redis last confirmed the versions (unix ns, wall clock)
}

// Message is the answer for gRPC; callers must not change it.
func (a *Answer) Message() proto.Message { return a.msg }

// JSON is the answer as the REST gateway renders it.
func (a *Answer) JSON() []byte { return a.json }

// ETag is the answer's entity tag.
func (a *Answer) ETag() string { return a.etag }

// New returns a replica's answers, listening for the changes other
// replicas make until Close. now is the clock the handlers read the time
// by; etagKey keys the ETags (server.ETag); the served counter goes to reg
// (nil: nowhere).
func New(ctx context.Context, k *kv.KV, now func() time.Time, etagKey []byte, log *slog.Logger, reg prometheus.Registerer) (*Cache, error) {
	if now == nil {
		now = time.Now
	}
	c := &Cache{kv: k, log: log, now: now, etagKey: etagKey, id: kv.Token(), answers: map[string]*Answer{},
		served: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "redpoint_answers_total",
			Help: "Hot reads, by how they were answered: from memory, from memory after Redis confirmed it, or read afresh."}, []string{"source"})}
	for _, source := range []string{fromMemory, confirmed, readAfresh} {
		c.served.WithLabelValues(source)
	}
	if reg != nil {
		if err := reg.Register(c.served); err != nil {
			return nil, fmt.Errorf("answers.New: %w", err)
		}
	}
	c.changes = k.Client.Subscribe(ctx, channel(k))
	if _, err := c.changes.Receive(ctx); err != nil { // listening before the first answer is kept
		return nil, fmt.Errorf("answers.New: %w", errors.Join(err, c.changes.Close()))
	}
	go func() {
		for m := range c.changes.Channel() {
			from, scopes, _ := strings.Cut(m.Payload, "\n")
			if from != c.id { // this replica bumped its own at once
				c.bumpLocal(strings.Split(scopes, "\n"))
			}
		}
	}()
	return c, nil
}

// How a hot read was answered, as the served counter labels it.
const (
	fromMemory = "memory"
	confirmed  = "redis"
	readAfresh = "read"
)

// Close stops listening.
func (c *Cache) Close() {
	if err := c.changes.Close(); err != nil {
		c.log.Warn("answers: closing the change subscription", "error", err)
	}
}

// channel carries the news of changes; versionKey holds a scope's version.
func channel(k *kv.KV) string                  { return k.Key("answers", "changed") }
func versionKey(k *kv.KV, scope string) string { return k.Key("answers", "v", scope) }

func (c *Cache) gen(scope string) *atomic.Uint64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(scope))
	return &c.gens[h.Sum32()%uint32(len(c.gens))]
}

// Generation is this replica's counter for scope: it moves on every change
// of the scope made here or heard of from another replica. Other caches
// (the errand service's display names) check it to drop what they hold.
func (c *Cache) Generation(scope string) uint64 {
	if c == nil {
		return 0
	}
	return c.gen(scope).Load()
}

func (c *Cache) bumpLocal(scopes []string) {
	for _, s := range scopes {
		c.gen(s).Add(1)
	}
}

// Changed bumps scopes after a committed change: this replica's memory at
// once, then Redis and the other replicas. A failure is logged; the
// outbox's handler bumps again (Invalidate).
func (c *Cache) Changed(ctx context.Context, scopes ...string) {
	if c == nil || len(scopes) == 0 {
		return
	}
	if err := c.Invalidate(ctx, scopes...); err != nil {
		// Other replicas may not hear of it; this one forgets everything,
		// so that nothing it keeps is confirmed by versions that missed
		// the change once Redis is back.
		c.mu.Lock()
		c.answers, c.bytes = map[string]*Answer{}, 0
		c.mu.Unlock()
		c.log.WarnContext(ctx, "answers not invalidated in Redis; errand changes are bumped again from the outbox", "error", err)
	}
}

// Invalidate bumps scopes on this replica, then in Redis and on the
// others, and returns Redis's error.
func (c *Cache) Invalidate(ctx context.Context, scopes ...string) error {
	c.bumpLocal(scopes)
	return invalidate(ctx, c.kv, c.id, scopes)
}

// Invalidate bumps scopes in Redis and tells every replica: all a process
// without answers of its own (a worker running the outbox) needs.
func Invalidate(ctx context.Context, k *kv.KV, scopes ...string) error {
	return invalidate(ctx, k, "outbox", scopes)
}

// invalidate bumps scopes in Redis and sends the news, from the replica
// named from, on the channel: the first line names the sender, the rest
// are the scopes.
func invalidate(ctx context.Context, k *kv.KV, from string, scopes []string) error {
	// The change is committed: a caller hanging up must not keep it cached.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	pipe := k.Client.Pipeline()
	for _, s := range scopes {
		kv.NewVersion(ctx, pipe, versionKey(k, s), versionTTL)
	}
	pipe.Publish(ctx, channel(k), from+"\n"+strings.Join(scopes, "\n"))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("answers.Invalidate: %w", err)
	}
	return nil
}

// versions reads the scopes' versions from Redis ("" for none), one GET
// each in one pipeline (a cluster splits it by slot).
func (c *Cache) versions(ctx context.Context, scopes []string) ([]string, error) {
	pipe := c.kv.Client.Pipeline()
	cmds := make([]*redis.StringCmd, len(scopes))
	for i, s := range scopes {
		cmds[i] = pipe.Get(ctx, versionKey(c.kv, s))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]string, len(scopes))
	for i, cmd := range cmds {
		out[i] = cmd.Val()
	}
	return out, nil
}

// current reports whether a still answers for its scopes: from memory
// while Redis confirmed it within LocalTTL, else after asking Redis again.
func (c *Cache) current(ctx context.Context, a *Answer) (bool, string) {
	if !c.now().Before(a.expires) {
		return false, ""
	}
	for i, s := range a.scopes {
		if c.gen(s).Load() != a.gens[i] {
			return false, ""
		}
	}
	wall := time.Now().UnixNano()
	if wall-a.checked.Load() < int64(LocalTTL) {
		return true, fromMemory
	}
	vs, err := c.versions(ctx, a.scopes)
	if err != nil || !equal(vs, a.versions) {
		return false, "" // Redis away or the data moved on: read afresh
	}
	a.checked.Store(wall)
	return true, confirmed
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Watch records, before a read, the scopes the answer will depend on.
type Watch struct {
	cache    *Cache
	scopes   []string
	gens     []uint64
	versions []string
	broken   bool      // Redis did not answer: the answer is not kept, nor served again
	start    time.Time // when the first versions were read: Redis confirmed them then
}

// Scopes adds scopes the answer depends on. Call it before reading what
// they cover: a change after it makes the answer stale; one before it is
// in what the read sees.
func (w *Watch) Scopes(ctx context.Context, scopes ...string) {
	if w.cache == nil || w.broken {
		return
	}
	if w.start.IsZero() {
		w.start = time.Now()
	}
	gens := make([]uint64, len(scopes))
	for i, s := range scopes {
		gens[i] = w.cache.gen(s).Load()
	}
	vs, err := w.cache.versions(ctx, scopes)
	if err != nil {
		w.broken = true
		return
	}
	w.scopes = append(w.scopes, scopes...)
	w.gens = append(w.gens, gens...)
	w.versions = append(w.versions, vs...)
}

// Read answers key from memory while its scopes stand, or runs read,
// which calls w.Scopes before it reads and returns the answer with the
// first instant at which time alone changes it (zero: none). The REST
// gateway then sends the answer's JSON with its ETag (server.UseAnswer).
// A nil cache reads every time.
func Read[M proto.Message](ctx context.Context, c *Cache, key string, read func(w *Watch) (M, time.Time, error)) (M, error) {
	if c == nil {
		m, _, err := read(&Watch{})
		return m, err
	}
	c.mu.Lock()
	a := c.answers[key]
	c.mu.Unlock()
	if a != nil {
		if ok, source := c.current(ctx, a); ok {
			c.served.WithLabelValues(source).Inc()
			server.UseAnswer(ctx, a)
			return a.msg.(M), nil
		}
	}
	c.served.WithLabelValues(readAfresh).Inc()
	w := &Watch{cache: c}
	m, changes, err := read(w)
	if err != nil {
		return m, err
	}
	a, err = c.keep(key, w, m, changes)
	if err != nil {
		return m, err
	}
	if w.broken || len(w.scopes) == 0 {
		// Nothing can say later whether it still stands: sent, not kept.
		server.SetRendered(ctx, a.json)
		return m, nil
	}
	server.UseAnswer(ctx, a)
	return m, nil
}

// keep renders m once and keeps it under key, unless Redis could not say
// its scopes' versions.
func (c *Cache) keep(key string, w *Watch, m proto.Message, changes time.Time) (*Answer, error) {
	json, err := server.JSON(m)
	if err != nil {
		return nil, fmt.Errorf("answers: %w", err)
	}
	expires := c.now().Add(MaxAge)
	if !changes.IsZero() && changes.Before(expires) {
		expires = changes
	}
	a := &Answer{cache: c, msg: m, json: json, etag: server.ETag(c.etagKey, json),
		scopes: w.scopes, gens: w.gens, versions: w.versions, expires: expires}
	a.checked.Store(w.start.UnixNano())
	if w.broken || len(w.scopes) == 0 {
		return a, nil
	}
	// One that a change overtook is kept too: current turns it away.
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.answers[key]; old != nil {
		delete(c.answers, key)
		c.bytes -= old.size(key)
	}
	for k, old := range c.answers { // map order is random enough to pick victims by
		if c.bytes+a.size(key) <= MaxBytes {
			break
		}
		delete(c.answers, k)
		c.bytes -= old.size(k)
	}
	c.answers[key] = a
	c.bytes += a.size(key)
	return a, nil
}

// entryOverhead is what an answer costs beyond its JSON and message: the
// struct, its scopes, versions and ETag, the map's entry.
const entryOverhead = 512

// size is what the answer counts against MaxBytes: its JSON, its message
// (counted at twice the JSON), its key and the overhead.
func (a *Answer) size(key string) int {
	return 3*len(a.json) + len(key) + 32*len(a.scopes) + entryOverhead
}

// Current reports whether the answer still stands. The REST layer asks it
// before it answers a repeated request from memory.
func (a *Answer) Current(ctx context.Context) bool {
	ok, source := a.cache.current(ctx, a)
	if ok {
		a.cache.served.WithLabelValues(source).Inc()
	}
	return ok
}
