package resident

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/errand"
	entresident "github.com/changzhi/redpoint/ent/resident"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/errands"
	"github.com/changzhi/redpoint/service/events"
	"github.com/changzhi/redpoint/service/outbox"
	"github.com/changzhi/redpoint/service/trackingcode"
	"github.com/changzhi/redpoint/service/wechat"
)

// Sender is what the notifier needs of the WeChat client.
type Sender interface {
	SendSubscribe(ctx context.Context, m wechat.Message) error
}

// Templates maps a state to its subscribe-message template id; Default
// serves the states without their own.
type Templates struct {
	Default string
	ByState map[string]string
}

// ParseTemplates reads the template ids of REDPOINT_WECHAT_TEMPLATE_ID
// (def) and REDPOINT_WECHAT_TEMPLATE_IDS (byState: comma-separated
// STATE=id pairs, e.g. "COMPLETED=tplA,NEEDS_MATERIALS=tplB").
func ParseTemplates(def, byState string) (Templates, error) {
	t := Templates{Default: def, ByState: map[string]string{}}
	for _, pair := range strings.Split(byState, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		name, id, ok := strings.Cut(pair, "=")
		state, err := errands.ParseState(strings.TrimSpace(name))
		if !ok || err != nil || strings.TrimSpace(id) == "" {
			return Templates{}, fmt.Errorf("%q is not STATE=template-id with a state of ACCEPTED, IN_PROGRESS, FORWARDED, NEEDS_MATERIALS, COMPLETED, CANCELLED", pair)
		}
		t.ByState[string(state)] = strings.TrimSpace(id)
	}
	return t, nil
}

// For is the template id of a change into state; none: no message.
func (t Templates) For(state string) string {
	if id := t.ByState[state]; id != "" {
		return id
	}
	return t.Default
}

// Notifier tells a bound, subscribed resident of each state change.
func Notifier(wx Sender, templates Templates, log *slog.Logger) events.Handler {
	return events.Handler{
		Name:   "resident-notify",
		Topics: []string{outbox.TopicErrandTransitioned},
		Handle: events.Typed(func(ctx context.Context, tx *ent.Tx, p outbox.ErrandChange) error {
			e, err := tx.Client().Errand.Query().Where(errand.ID(p.ErrandID)).WithErrandType().Only(ctx)
			if err != nil {
				return err
			}
			tpl := templates.For(string(p.State))
			if wx == nil || tpl == "" {
				return nil
			}
			// The message goes to whoever holds the errand's phone now.
			r, err := tx.Client().Resident.Query().Where(entresident.PhoneHash(e.ResidentPhoneHash)).Only(ctx)
			if ent.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			if !r.Subscribed {
				return nil
			}
			err = wx.SendSubscribe(ctx, wechat.Message{
				ToOpenID: r.Openid, TemplateID: tpl, Page: fmt.Sprintf("pages/errand/detail?id=%d", e.ID),
				Data: map[string]string{
					"character_string1": trackingcode.Format(e.TrackingCode),
					"thing2":            e.Edges.ErrandType.Name,
					"phrase3":           errands.StateName(p.State),
					"thing4":            truncate(p.Note, 20),
				},
			})
			if wechat.Permanent(err) {
				// 43101: the resident refused or used up their quota. Record
				// it and stop asking; the next change asks again only if the
				// mini-program subscribes them again.
				log.InfoContext(ctx, "resident refused subscribe messages", "errand", e.ID)
				return tx.Resident.UpdateOneID(r.ID).SetSubscribed(false).Exec(ctx)
			}
			return err // transient: the job retries with backoff
		}),
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// SetSubscription records the resident's choice.
func (s *Server) SetSubscription(ctx context.Context, req *redpointv1.SetSubscriptionRequest) (*redpointv1.Resident, error) {
	id, err := me(ctx)
	if err != nil {
		return nil, err
	}
	r, err := s.db.Resident.UpdateOneID(id).SetSubscribed(req.GetSubscribed()).Save(ctx)
	if err != nil {
		return nil, fmt.Errorf("resident.SetSubscription: %w", err)
	}
	return s.residentProto(r)
}
