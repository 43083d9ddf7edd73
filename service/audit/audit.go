// Package audit records every write and every full read of residents'
// personal data — who, what, when, from where — and lists the log to
// admins within their scope.
package audit

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/auditentry"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/pagetoken"
	"github.com/changzhi/redpoint/service/resname"
)

// Log writes and lists audit entries.
type Log struct {
	redpointv1.UnimplementedAuditServiceServer
	db    *ent.Client
	log   *slog.Logger
	pages *pagetoken.Signer
}

var _ redpointv1.AuditServiceServer = (*Log)(nil)

// New returns the audit log; pages signs the page tokens of its list.
func New(db *ent.Client, log *slog.Logger, pages *pagetoken.Signer) *Log {
	return &Log{db: db, log: log, pages: pages}
}

// RecordUnmaskedRead writes that the caller read resource's personal data
// in full. The read must not be served if this fails.
func (l *Log) RecordUnmaskedRead(ctx context.Context, action, resource, region string) error {
	return l.record(ctx, action, resource, region, true)
}

func (l *Log) record(ctx context.Context, action, resource, region string, unmasked bool) error {
	if err := entry(ctx, l.db, action, resource, region, unmasked).Exec(ctx); err != nil {
		return fmt.Errorf("audit.record: %w", err)
	}
	return nil
}

// entry builds an audit row: who (from the context), what, where from.
func entry(ctx context.Context, db *ent.Client, action, resource, region string, unmasked bool) *ent.AuditEntryCreate {
	c := db.AuditEntry.Create().SetAction(action).SetResource(resource).SetRegionID(region).
		SetClientIP(access.ClientIP(ctx)).SetUnmaskedRead(unmasked)
	if p, ok := access.FromContext(ctx); ok {
		c.SetActorRole(string(p.Role))
		if p.Role == access.RoleResident {
			c.SetActorResidentID(p.ResidentID)
		} else {
			c.SetActorUserID(p.UserID)
		}
		if region == "" {
			c.SetRegionID(p.Region.String())
		}
	}
	return c
}

// pending is a write call's audit entry, not yet written.
type pending struct {
	method string
	done   atomic.Bool
}

type pendingKey struct{}

// InTx writes an audit entry of the current write call inside tx, the
// transaction that makes the change, so the change and its audit line
// commit together (a batch writes one per item). Calls that never use it
// are audited after they return.
func InTx(ctx context.Context, tx *ent.Tx, resource, region string) error {
	p, ok := ctx.Value(pendingKey{}).(*pending)
	if !ok {
		return nil
	}
	if err := entry(ctx, tx.Client(), p.method, resource, region, false).Exec(ctx); err != nil {
		return fmt.Errorf("audit.InTx: %w", err)
	}
	p.done.Store(true)
	return nil
}

// Interceptor audits every successful call the policy table marks as a
// write. It runs after the auth hook, so the caller is known.
func (l *Log) Interceptor(policies map[string]access.Policy) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !policies[info.FullMethod].Write {
			return handler(ctx, req)
		}
		p := &pending{method: info.FullMethod}
		resp, err := handler(context.WithValue(ctx, pendingKey{}, p), req)
		if err != nil || p.done.Load() {
			return resp, err
		}
		resource, region := target(req, resp)
		if p, ok := access.FromContext(ctx); ok && p.Role == access.RoleResident {
			// "residents/me" says nothing in a log: name the resident.
			if rest, ok := strings.CutPrefix(resource, "residents/me"); ok {
				resource = resname.Name(resname.Residents, p.ResidentID) + rest
			}
		}
		// The write is committed: a client that hangs up now must not
		// cost its audit line.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if aerr := l.record(actx, info.FullMethod, resource, region, false); aerr != nil {
			// The write is committed; losing its audit line is logged loudly.
			l.log.ErrorContext(ctx, "audit entry lost", "method", info.FullMethod, "resource", resource, "error", aerr)
		}
		return resp, nil
	}
}

// target finds the resource name and region of a write: the response's
// name and region when it is a resource, else the request's name.
func target(req, resp any) (string, string) {
	var resource, region string
	if m, ok := resp.(proto.Message); ok {
		resource, region = stringField(m, "name"), strings.TrimPrefix(stringField(m, "region"), "regions/")
	}
	if m, ok := req.(proto.Message); ok && resource == "" {
		resource = stringField(m, "name")
	}
	return resource, region
}

func stringField(m proto.Message, name string) string {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() {
		return ""
	}
	return m.ProtoReflect().Get(fd).String()
}

// ListAuditEntries lists the entries of a region's subtree, newest first.
func (l *Log) ListAuditEntries(ctx context.Context, req *redpointv1.ListAuditEntriesRequest) (*redpointv1.ListAuditEntriesResponse, error) {
	_, parent, err := access.InScope(ctx, "parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	if err := pagetoken.CheckFilter(req.GetFilter()); err != nil {
		return nil, err
	}
	var onlyUnmasked bool
	switch f := strings.Join(strings.Fields(req.GetFilter()), " "); f {
	case "":
	case "unmasked_read = true":
		onlyUnmasked = true
	default:
		return nil, apierr.InvalidField("filter", "只支持 unmasked_read = true")
	}
	lo, hi := parent.Range()
	scope := auditentry.And(auditentry.RegionIDGTE(lo), auditentry.RegionIDLTE(hi))
	if p, _ := access.FromContext(ctx); p.SeesEverything() && parent == p.Region {
		// Actions tied to no region (a resident's subscription, a bind
		// before any errand) belong to the whole deployment.
		scope = auditentry.Or(scope, auditentry.RegionID(""))
	}
	q := l.db.AuditEntry.Query().Where(scope)
	if onlyUnmasked {
		q = q.Where(auditentry.UnmaskedRead(true))
	}
	rows, next, err := pagetoken.Page(ctx, l.pages, req.GetPageToken(), pagetoken.Query{"audit", parent.String(), req.GetFilter()},
		func(w pagetoken.Window) ([]*ent.AuditEntry, error) {
			return q.Where(w.After).Order(w.Order).Limit(w.Limit).All(ctx)
		},
		pagetoken.Desc(auditentry.FieldID, func(r *ent.AuditEntry) int { return r.ID }))
	if err != nil {
		return nil, fmt.Errorf("audit.ListAuditEntries: %w", err)
	}
	return &redpointv1.ListAuditEntriesResponse{AuditEntries: pagetoken.Map(rows, entryProto), NextPageToken: next}, nil
}

// entryProto converts an audit row.
func entryProto(r *ent.AuditEntry) *redpointv1.AuditEntry {
	e := &redpointv1.AuditEntry{
		Name:         "regions/" + r.RegionID + "/auditEntries/" + strconv.Itoa(r.ID),
		ActorRole:    access.RoleProto(access.Role(r.ActorRole)),
		Action:       r.Action,
		Resource:     r.Resource,
		Region:       "regions/" + r.RegionID,
		ClientIp:     r.ClientIP,
		UnmaskedRead: r.UnmaskedRead,
		CreateTime:   timestamppb.New(r.CreateTime),
	}
	switch {
	case r.ActorUserID != nil:
		e.Actor = resname.Name(resname.Users, *r.ActorUserID)
	case r.ActorResidentID != nil:
		e.Actor = resname.Name(resname.Residents, *r.ActorResidentID)
	}
	return e
}

// RecordInTx writes an audit entry of action on resource inside tx, for
// writes made outside a gRPC call (an upload to a signed URL): the caller
// and their address come from ctx as for any call.
func RecordInTx(ctx context.Context, tx *ent.Tx, action, resource, region string) error {
	if err := entry(ctx, tx.Client(), action, resource, region, false).Exec(ctx); err != nil {
		return fmt.Errorf("audit.RecordInTx: %w", err)
	}
	return nil
}
