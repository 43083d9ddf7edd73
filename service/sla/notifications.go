package sla

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/notification"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/apierr"
	"github.com/changzhi/redpoint/service/pagetoken"
)

// Notifications implements NotificationService: a staff member's own
// notifications.
type Notifications struct {
	redpointv1.UnimplementedNotificationServiceServer
	db    *ent.Client
	pages *pagetoken.Signer
}

var _ redpointv1.NotificationServiceServer = (*Notifications)(nil)

// NewNotifications returns the notification service; pages signs its page
// tokens.
func NewNotifications(db *ent.Client, pages *pagetoken.Signer) *Notifications {
	return &Notifications{db: db, pages: pages}
}

var errNotYours = apierr.ErrPermissionDenied.WithMessage("只能查看自己的通知")

// self checks that a users/{id} or users/me parent is the caller.
func self(ctx context.Context, parent string) (access.Principal, error) {
	p, ok := access.FromContext(ctx)
	if !ok {
		return p, apierr.ErrUnauthenticated
	}
	if parent != "users/me" && parent != "users/"+strconv.Itoa(p.UserID) {
		if !strings.HasPrefix(parent, "users/") {
			return p, apierr.InvalidField("parent", "格式应为 users/me")
		}
		return p, errNotYours
	}
	return p, nil
}

// ListNotifications lists the caller's notifications, newest first.
func (n *Notifications) ListNotifications(ctx context.Context, req *redpointv1.ListNotificationsRequest) (*redpointv1.ListNotificationsResponse, error) {
	p, err := self(ctx, req.GetParent())
	if err != nil {
		return nil, err
	}
	q := n.db.Notification.Query().Where(notification.UserID(p.UserID))
	if req.GetUnreadOnly() {
		q = q.Where(notification.ReadTimeIsNil())
	}
	query := pagetoken.Query{"notifications", strconv.Itoa(p.UserID), strconv.FormatBool(req.GetUnreadOnly())}
	rows, next, err := pagetoken.Page(ctx, n.pages, req.GetPageToken(), query,
		func(w pagetoken.Window) ([]*ent.Notification, error) {
			return q.Where(w.After).Order(w.Order).Limit(w.Limit).All(ctx)
		},
		pagetoken.Desc(notification.FieldID, func(r *ent.Notification) int { return r.ID }))
	if err != nil {
		return nil, fmt.Errorf("sla.ListNotifications: %w", err)
	}
	return &redpointv1.ListNotificationsResponse{Notifications: pagetoken.Map(rows, notificationProto), NextPageToken: next}, nil
}

// MarkNotificationRead marks one of the caller's notifications read.
func (n *Notifications) MarkNotificationRead(ctx context.Context, req *redpointv1.MarkNotificationReadRequest) (*redpointv1.Notification, error) {
	parent, idPart, ok := strings.Cut(strings.TrimPrefix(req.GetName(), ""), "/notifications/")
	p, err := self(ctx, parent)
	if err != nil {
		return nil, err
	}
	id, convErr := strconv.Atoi(idPart)
	if !ok || convErr != nil || id <= 0 {
		return nil, apierr.InvalidField("name", "格式应为 users/me/notifications/{编号}")
	}
	// Only the caller's own collection is searched: "not found" reveals nothing.
	row, err := n.db.Notification.Query().Where(notification.ID(id), notification.UserID(p.UserID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apierr.ErrNotFound.WithMessage("未找到该通知")
	}
	if err != nil {
		return nil, fmt.Errorf("sla.MarkNotificationRead: %w", err)
	}
	if row.ReadTime == nil {
		if row, err = row.Update().SetReadTime(timestamppb.Now().AsTime()).Save(ctx); err != nil {
			return nil, fmt.Errorf("sla.MarkNotificationRead: %w", err)
		}
	}
	return notificationProto(row), nil
}

func notificationProto(r *ent.Notification) *redpointv1.Notification {
	kind := redpointv1.NotificationKind_NOTIFICATION_KIND_SLA_REMINDER
	switch r.Kind {
	case notification.KindESCALATION:
		kind = redpointv1.NotificationKind_NOTIFICATION_KIND_ESCALATION
	case notification.KindERRAND_REOPENED:
		kind = redpointv1.NotificationKind_NOTIFICATION_KIND_ERRAND_REOPENED
	case notification.KindCONSENT_REVOKED:
		kind = redpointv1.NotificationKind_NOTIFICATION_KIND_CONSENT_REVOKED
	}
	return &redpointv1.Notification{
		Name:       fmt.Sprintf("users/%d/notifications/%d", r.UserID, r.ID),
		Kind:       kind,
		Errand:     fmt.Sprintf("errands/%d", r.ErrandID),
		Title:      r.Title,
		Body:       r.Body,
		CreateTime: timestamppb.New(r.CreateTime),
		Read:       r.ReadTime != nil,
	}
}
