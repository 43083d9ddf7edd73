package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/refreshtoken"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/regioncode"
)

// Token lifetimes.
const (
	AccessTTL  = 15 * time.Minute
	RefreshTTL = 30 * 24 * time.Hour
)

// ErrBadToken is every token failure the client sees: expired, forged,
// revoked or reused look the same.
var ErrBadToken = apierr.ErrUnauthenticated.WithMessage("登录已失效，请重新登录")

// Tokens issues and checks access tokens (HS256 JWTs) and refresh tokens
// (opaque, stored only as hashes).
type Tokens struct {
	key []byte
	db  *ent.Client
	Now func() time.Time
	// verified are access tokens already checked, with their callers: a
	// poller's next call skips the signature and the JSON until the
	// token expires. Access tokens can't be revoked, so nothing else ends
	// one sooner.
	mu       sync.Mutex
	verified map[string]verifiedToken
}

type verifiedToken struct {
	caller  Principal
	expires time.Time
}

// maxVerified bounds the tokens remembered; past it, some are forgotten.
const maxVerified = 100_000

// NewTokens returns a token issuer signing with key (at least 32 bytes).
func NewTokens(key []byte, db *ent.Client) (*Tokens, error) {
	if len(key) < 32 {
		return nil, errors.New("auth key must be at least 32 bytes")
	}
	return &Tokens{key: key, db: db, Now: time.Now, verified: map[string]verifiedToken{}}, nil
}

type claims struct {
	Role   string `json:"role"`
	Region string `json:"region"`
	Point  int    `json:"sp,omitempty"`
	Name   string `json:"name"`
	jwt.RegisteredClaims
}

// IssueAccess signs an access token for u.
func (t *Tokens) IssueAccess(u *ent.User) (string, time.Time, error) {
	now := t.Now()
	exp := now.Add(AccessTTL)
	c := claims{Role: string(u.Role), Region: u.RegionID, Name: u.DisplayName, RegisteredClaims: jwt.RegisteredClaims{
		Subject:   strconv.Itoa(u.ID),
		Issuer:    "redpoint",
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
	}}
	if u.ServicePointID != nil {
		c.Point = *u.ServicePointID
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("access.IssueAccess: %w", err)
	}
	return s, exp, nil
}

// IssueResident signs an access token for a WeChat resident; it lives as
// long as a staff token, and the mini-program logs in again silently.
func (t *Tokens) IssueResident(residentID int) (string, time.Time, error) {
	now := t.Now()
	exp := now.Add(AccessTTL)
	c := claims{Role: string(RoleResident), RegisteredClaims: jwt.RegisteredClaims{
		Subject: strconv.Itoa(residentID), Issuer: "redpoint",
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
	}}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("access.IssueResident: %w", err)
	}
	return s, exp, nil
}

// ParseAccess verifies an access token and returns its caller.
func (t *Tokens) ParseAccess(token string) (Principal, error) {
	now := t.Now()
	t.mu.Lock()
	v, ok := t.verified[token]
	t.mu.Unlock()
	if ok && now.Before(v.expires) {
		return v.caller, nil
	}
	p, exp, err := t.parseAccess(token)
	if err != nil {
		return Principal{}, err
	}
	t.mu.Lock()
	for k := range t.verified { // map order is random enough to pick victims by
		if len(t.verified) < maxVerified {
			break
		}
		delete(t.verified, k)
	}
	t.verified[token] = verifiedToken{caller: p, expires: exp}
	t.mu.Unlock()
	return p, nil
}

// parseAccess checks an access token's signature and claims.
func (t *Tokens) parseAccess(token string) (Principal, time.Time, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return t.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer("redpoint"),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(t.Now),
	)
	if err != nil {
		return Principal{}, time.Time{}, ErrBadToken
	}
	id, err := strconv.Atoi(c.Subject)
	if err != nil {
		return Principal{}, time.Time{}, ErrBadToken
	}
	if Role(c.Role) == RoleResident {
		return Principal{Role: RoleResident, ResidentID: id}, c.ExpiresAt.Time, nil
	}
	region, err := regioncode.Parse(c.Region)
	if err != nil {
		return Principal{}, time.Time{}, ErrBadToken
	}
	return Principal{UserID: id, Role: Role(c.Role), Region: region, ServicePointID: c.Point, DisplayName: c.Name}, c.ExpiresAt.Time, nil
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// issueRefresh stores a new refresh token of family for user.
func (t *Tokens) issueRefresh(ctx context.Context, db *ent.Client, userID int, family string) (string, time.Time, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", time.Time{}, err
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	exp := t.Now().Add(RefreshTTL).UTC()
	err := db.RefreshToken.Create().SetTokenHash(hashToken(tok)).SetUserID(userID).SetFamily(family).
		SetExpireTime(exp).SetCreateTime(t.Now().UTC()).Exec(ctx)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("access.issueRefresh: %w", err)
	}
	return tok, exp, nil
}

// NewFamily starts a refresh-token family for a fresh login.
func (t *Tokens) NewFamily(ctx context.Context, userID int) (string, time.Time, error) {
	return t.issueRefresh(ctx, t.db, userID, uuid.NewString())
}

// Rotate uses a refresh token once: it returns the user and a new token of
// the same family. A token used before is a stolen copy or a replay: the
// whole family is revoked.
func (t *Tokens) Rotate(ctx context.Context, tok string) (*ent.User, string, time.Time, error) {
	now := t.Now().UTC()
	row, err := t.db.RefreshToken.Query().Where(refreshtoken.TokenHash(hashToken(tok))).WithUser().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, "", time.Time{}, ErrBadToken
	}
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("access.Rotate: %w", err)
	}
	if row.RevokeTime != nil || now.After(row.ExpireTime) || !row.Edges.User.Active {
		return nil, "", time.Time{}, ErrBadToken
	}
	tx, err := t.db.Tx(ctx)
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("access.Rotate: %w", err)
	}
	// Only one use can win: the update matches while use_time is unset.
	n, err := tx.RefreshToken.Update().Where(refreshtoken.ID(row.ID), refreshtoken.UseTimeIsNil(), refreshtoken.RevokeTimeIsNil()).SetUseTime(now).Save(ctx)
	if err != nil {
		_ = tx.Rollback()
		return nil, "", time.Time{}, fmt.Errorf("access.Rotate: %w", err)
	}
	if n == 0 {
		_ = tx.Rollback()
		if err := t.RevokeFamily(ctx, row.Family); err != nil {
			return nil, "", time.Time{}, err
		}
		return nil, "", time.Time{}, ErrBadToken
	}
	next, exp, err := t.issueRefresh(ctx, tx.Client(), row.UserID, row.Family)
	if err != nil {
		_ = tx.Rollback()
		return nil, "", time.Time{}, err
	}
	if err := tx.Commit(); err != nil {
		return nil, "", time.Time{}, fmt.Errorf("access.Rotate: %w", err)
	}
	return row.Edges.User, next, exp, nil
}

// RevokeFamily ends every token of a family.
func (t *Tokens) RevokeFamily(ctx context.Context, family string) error {
	err := t.db.RefreshToken.Update().Where(refreshtoken.Family(family), refreshtoken.RevokeTimeIsNil()).
		SetRevokeTime(t.Now().UTC()).Exec(ctx)
	if err != nil {
		return fmt.Errorf("access.RevokeFamily: %w", err)
	}
	return nil
}

// RevokeUser ends every refresh token of a user (password reset, deactivation).
func (t *Tokens) RevokeUser(ctx context.Context, userID int) error {
	err := t.db.RefreshToken.Update().Where(refreshtoken.UserID(userID), refreshtoken.RevokeTimeIsNil()).
		SetRevokeTime(t.Now().UTC()).Exec(ctx)
	if err != nil {
		return fmt.Errorf("access.RevokeUser: %w", err)
	}
	return nil
}

// Logout revokes the family of tok; an unknown token is not an error.
func (t *Tokens) Logout(ctx context.Context, tok string) error {
	row, err := t.db.RefreshToken.Query().Where(refreshtoken.TokenHash(hashToken(tok))).Only(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("access.Logout: %w", err)
	}
	return t.RevokeFamily(ctx, row.Family)
}
