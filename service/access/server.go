package access

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/kv"
)

// Server implements AuthService.
type Server struct {
	redpointv1.UnimplementedAuthServiceServer
	db      *ent.Client
	tokens  *Tokens
	limiter *limiter
	// dummyHash is verified when the phone is unknown, so a wrong phone
	// costs the same time as a wrong password.
	dummyHash string
}

var _ redpointv1.AuthServiceServer = (*Server)(nil)

// NewServer returns the auth service.
func NewServer(db *ent.Client, tokens *Tokens, k *kv.KV, limits LoginLimits) (*Server, error) {
	dummy, err := HashPassword("redpoint-timing-equalizer")
	if err != nil {
		return nil, err
	}
	return &Server{db: db, tokens: tokens, limiter: newLimiter(k, limits, tokens.key), dummyHash: dummy}, nil
}

// Close gives back the login limits' leases.
func (s *Server) Close() { s.limiter.counts.Close() }

// The login errors.
var (
	ErrBadCredentials = apierr.ErrUnauthenticated.WithMessage("手机号或密码错误")
	ErrTooManyLogins  = apierr.ErrRateLimited.WithMessage("密码错误次数过多，请 15 分钟后再试")
)

// Login checks credentials and opens a session.
func (s *Server) Login(ctx context.Context, req *redpointv1.LoginRequest) (*redpointv1.Session, error) {
	phone := strings.TrimSpace(req.GetPhone())
	var v apierr.Violations
	if phone == "" {
		v.Add("phone", "请填写手机号")
	}
	if req.GetPassword() == "" {
		v.Add("password", "请填写密码")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	ip := ClientIP(ctx)
	blocked, err := s.limiter.attempt(ctx, phone, ip)
	if err != nil {
		// Uncounted attempts are refused, as unavailable, not internal.
		return nil, fmt.Errorf("access.Login: %w: %w", apierr.ErrUnavailable, err)
	}
	if blocked {
		return nil, ErrTooManyLogins
	}
	u, err := s.db.User.Query().Where(user.Phone(phone), user.Active(true)).Only(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, fmt.Errorf("access.Login: %w", err)
	}
	hash := s.dummyHash
	if u != nil {
		hash = u.PasswordHash
	}
	ok, err := checkPassword(ctx, hash, req.GetPassword())
	if errors.Is(err, ErrHashingBusy) {
		// No password was checked: the attempt does not count.
		if err := s.limiter.refunded(ctx, phone, ip); err != nil {
			return nil, fmt.Errorf("access.Login: %w: %w", apierr.ErrUnavailable, err)
		}
		return nil, ErrHashingBusy
	}
	if err != nil {
		return nil, fmt.Errorf("access.Login: %w", err)
	}
	if u == nil || !ok {
		return nil, ErrBadCredentials
	}
	if err := s.limiter.succeeded(ctx, phone, ip); err != nil {
		return nil, err
	}
	refresh, refreshExp, err := s.tokens.NewFamily(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return s.session(u, refresh, refreshExp)
}

// RefreshSession rotates a refresh token.
func (s *Server) RefreshSession(ctx context.Context, req *redpointv1.RefreshSessionRequest) (*redpointv1.Session, error) {
	if req.GetRefreshToken() == "" {
		return nil, apierr.InvalidField("refresh_token", "缺少刷新令牌")
	}
	u, refresh, exp, err := s.tokens.Rotate(ctx, req.GetRefreshToken())
	if err != nil {
		return nil, err
	}
	return s.session(u, refresh, exp)
}

// Logout revokes the session's refresh-token family.
func (s *Server) Logout(ctx context.Context, req *redpointv1.LogoutRequest) (*redpointv1.LogoutResponse, error) {
	if req.GetRefreshToken() == "" {
		return nil, apierr.InvalidField("refresh_token", "缺少刷新令牌")
	}
	if err := s.tokens.Logout(ctx, req.GetRefreshToken()); err != nil {
		return nil, err
	}
	return &redpointv1.LogoutResponse{}, nil
}

func (s *Server) session(u *ent.User, refresh string, refreshExp interface{ Unix() int64 }) (*redpointv1.Session, error) {
	access, exp, err := s.tokens.IssueAccess(u)
	if err != nil {
		return nil, err
	}
	out := &redpointv1.Session{
		AccessToken:            access,
		AccessTokenExpireTime:  timestamppb.New(exp),
		RefreshToken:           refresh,
		RefreshTokenExpireTime: &timestamppb.Timestamp{Seconds: refreshExp.Unix()},
		User:                   UserProto(u),
	}
	return out, nil
}
