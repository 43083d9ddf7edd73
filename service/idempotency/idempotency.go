// Package idempotency makes retried writes safe (AIP-155): a request_id
// seen before returns the first response, and one reused for a different
// request is rejected.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/idempotencykey"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/pii"
	"github.com/changzhi/redpoint/service/store"
)

// Retention is how long a request_id is remembered; a purge job may delete
// older keys.
const Retention = 31 * 24 * time.Hour

// ErrReused reports a request_id sent again with a different request.
var ErrReused = apierr.New(codes.InvalidArgument, "REQUEST_ID_REUSED", "该请求编号已用于另一个请求").
	WithViolations(apierr.FieldViolation{Field: "request_id", Description: "该请求编号已用于内容不同的另一个请求，请生成新的编号"})

// Keeper stores request ids and their first responses. Responses may hold
// personal data, so they are sealed with the PII keyring.
type Keeper struct {
	db   *ent.Client
	keys *pii.Keyring
}

// New returns a Keeper.
func New(db *ent.Client, keys *pii.Keyring) *Keeper { return &Keeper{db: db, keys: keys} }

// ValidRequestID checks a client-generated id: 1–64 letters, digits, '-' or '_'.
func ValidRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
		default:
			return false
		}
	}
	return true
}

// Do runs write in a transaction exactly once per (method, caller,
// requestID). A retry with the same request gets the first response in out
// and replayed=true; concurrent retries wait for the first to commit. With
// an empty requestID, write simply runs in a transaction.
//
// req is the request with its request_id cleared: its hash tells a retry
// from a reuse.
func (k *Keeper) Do(ctx context.Context, method string, callerID int, requestID string, req proto.Message, out proto.Message,
	write func(ctx context.Context, tx *ent.Tx) (proto.Message, error)) (replayed bool, err error) {
	return k.do(ctx, method, callerID, requestID, req, out, write, false)
}

// DoAfterReplay is Do for a caller that has just called Replay and found
// nothing: the key is claimed at once, without looking it up again.
func (k *Keeper) DoAfterReplay(ctx context.Context, method string, callerID int, requestID string, req proto.Message, out proto.Message,
	write func(ctx context.Context, tx *ent.Tx) (proto.Message, error)) (replayed bool, err error) {
	return k.do(ctx, method, callerID, requestID, req, out, write, true)
}

func (k *Keeper) do(ctx context.Context, method string, callerID int, requestID string, req proto.Message, out proto.Message,
	write func(ctx context.Context, tx *ent.Tx) (proto.Message, error), lookedUp bool) (replayed bool, err error) {
	if requestID == "" {
		return false, store.WithTx(ctx, k.db, func(tx *ent.Tx) error {
			resp, err := write(ctx, tx)
			if err == nil {
				proto.Reset(out)
				proto.Merge(out, resp)
			}
			return err
		})
	}
	if !ValidRequestID(requestID) {
		return false, apierr.InvalidField("request_id", "请求编号应为 1–64 位字母、数字或连字符")
	}
	key := requestKey(method, callerID, requestID)
	hash, err := requestHash(req)
	if err != nil {
		return false, err
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 || !lookedUp {
			if found, err := k.lookup(ctx, key, hash, out); found || err != nil {
				return found, err
			}
		}
		err := store.WithTx(ctx, k.db, func(tx *ent.Tx) error {
			// Claim the key first: a concurrent call with the same key
			// waits here on the unique index until this one commits, then
			// fails and replays the stored response — it never runs the
			// write against the state this one left behind.
			if err := tx.IdempotencyKey.Create().SetKey(key).SetRequestHash(hash).SetResponse([]byte{}).Exec(ctx); err != nil {
				return err
			}
			resp, err := write(ctx, tx)
			if err != nil {
				return err
			}
			raw, err := proto.Marshal(resp)
			if err != nil {
				return err
			}
			sealed, err := k.keys.Encrypt(string(raw))
			if err != nil {
				return err
			}
			if err := tx.IdempotencyKey.Update().Where(idempotencykey.Key(key)).SetResponse([]byte(sealed)).Exec(ctx); err != nil {
				return err
			}
			proto.Reset(out)
			proto.Merge(out, resp)
			return nil
		})
		// Another call with this key committed first: read its response.
		if ent.IsConstraintError(err) && attempt < 3 {
			continue
		}
		return false, err
	}
}

func (k *Keeper) lookup(ctx context.Context, key, hash string, out proto.Message) (bool, error) {
	row, err := k.db.IdempotencyKey.Query().Where(idempotencykey.Key(key)).Only(ctx)
	if ent.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("idempotency.lookup: %w", err)
	}
	if row.RequestHash != hash {
		return false, ErrReused
	}
	raw, err := k.keys.Decrypt(string(row.Response))
	if err != nil {
		return false, fmt.Errorf("idempotency.lookup: %w", err)
	}
	if err := proto.Unmarshal([]byte(raw), out); err != nil {
		return false, fmt.Errorf("idempotency.lookup: %w", err)
	}
	return true, nil
}

func requestHash(req proto.Message) (string, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	if err != nil {
		return "", fmt.Errorf("idempotency: hash: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Replay looks a request id up before any validation against data that
// may have changed since the first call (an errand type deactivated in
// between must not fail the retry of a create that succeeded).
func (k *Keeper) Replay(ctx context.Context, method string, callerID int, requestID string, req proto.Message, out proto.Message) (bool, error) {
	if requestID == "" || !ValidRequestID(requestID) {
		return false, nil
	}
	hash, err := requestHash(req)
	if err != nil {
		return false, err
	}
	return k.lookup(ctx, requestKey(method, callerID, requestID), hash, out)
}

func requestKey(method string, callerID int, requestID string) string {
	return method + ":" + strconv.Itoa(callerID) + ":" + requestID
}

// Purge deletes keys older than Retention.
func (k *Keeper) Purge(ctx context.Context, now time.Time) (int, error) {
	n, err := k.db.IdempotencyKey.Delete().Where(idempotencykey.CreateTimeLT(now.Add(-Retention))).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("idempotency.Purge: %w", err)
	}
	return n, nil
}
