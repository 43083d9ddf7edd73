package resident_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/changzhi/redpoint/ent/processedevent"
	"github.com/changzhi/redpoint/ent/resident"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/testutil"
)

func waitNotified(t *testing.T, s *apptest.Server, n int) {
	t.Helper()
	testutil.EventuallyNoError(t, 20*time.Second, "the notifier ran", func() error {
		got, err := s.App.Store.Client.ProcessedEvent.Query().Where(processedevent.Handler("resident-notify")).Count(context.Background())
		if err != nil {
			return err
		}
		if got < n {
			return fmt.Errorf("it processed %d events, want %d", got, n)
		}
		return nil
	})
}

func TestStateChangeSendsOneSubscribeMessage(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 20}})
	ctx := context.Background()
	residents := redpointv1.NewResidentServiceClient(s.GRPC)
	me := subscribedResident(t, s, "demo-grandma", "13912340000")
	agent := s.As(t, ctx, demo.GuhanAgentPhone)
	errands := redpointv1.NewErrandServiceClient(s.GRPC)
	x := logErrand(t, s, agent, "n-1", "申秀英", "13912340000")
	// Logged after the binding, it is the resident's at once.
	if _, err := residents.GetMyErrand(me, &redpointv1.GetMyErrandRequest{Name: "residents/me/errands/" + x.Name[len("errands/"):]}); err != nil {
		t.Fatalf("an errand logged after binding: %v", err)
	}
	if _, err := errands.StartErrand(agent, &redpointv1.StartErrandRequest{Name: x.Name, Note: "正在办理"}); err != nil {
		t.Fatal(err)
	}
	waitNotified(t, s, 1)
	msgs := s.WeChat.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.ToUser != "demo-grandma" || m.TemplateID != "tpl-progress" || m.Data["phrase3"]["value"] != "办理中" ||
		m.Data["character_string1"]["value"] != x.TrackingCode || m.Data["thing2"]["value"] != "城乡居民医保缴费" {
		t.Errorf("message = %+v", m)
	}
	// 43101: recorded (the resident is unsubscribed), not retried, nothing sent.
	s.WeChat.Refuse("demo-grandma")
	if _, err := errands.CompleteErrand(agent, &redpointv1.CompleteErrandRequest{Name: x.Name, Result: "已缴费"}); err != nil {
		t.Fatal(err)
	}
	waitNotified(t, s, 2)
	if n := len(s.WeChat.Messages()); n != 1 {
		t.Errorf("%d messages after a refusal, want still 1", n)
	}
	if r := s.App.Store.Client.Resident.Query().Where(resident.Openid("demo-grandma")).OnlyX(ctx); r.Subscribed {
		t.Error("a refusal left the resident subscribed")
	}
}

// A state with a template of its own gets it; the others the default.
func TestTemplatePerState(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 20},
		Configure: func(a *app.Options) {
			a.Templates.ByState = map[string]string{"COMPLETED": "tpl-done"}
		}})
	subscribedResident(t, s, "demo-grandpa", "13912341111")
	agent := s.As(t, context.Background(), demo.GuhanAgentPhone)
	errands := redpointv1.NewErrandServiceClient(s.GRPC)
	x := logErrand(t, s, agent, "n-2", "申大爷", "13912341111")
	if _, err := errands.StartErrand(agent, &redpointv1.StartErrandRequest{Name: x.Name}); err != nil {
		t.Fatal(err)
	}
	waitNotified(t, s, 1)
	if _, err := errands.CompleteErrand(agent, &redpointv1.CompleteErrandRequest{Name: x.Name, Result: "已缴费"}); err != nil {
		t.Fatal(err)
	}
	waitNotified(t, s, 2)
	var got []string
	for _, m := range s.WeChat.Messages() {
		got = append(got, m.TemplateID+" "+m.Data["phrase3"]["value"])
	}
	if want := []string{"tpl-progress 办理中", "tpl-done 已办结"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("messages %q, want %q", got, want)
	}
}

// subscribedResident logs a resident in with a demo code, binds the phone
// and subscribes them; it returns their call context.
func subscribedResident(t *testing.T, s *apptest.Server, code, phone string) context.Context {
	t.Helper()
	residents := redpointv1.NewResidentServiceClient(s.GRPC)
	sess, err := residents.WechatLogin(context.Background(), &redpointv1.WechatLoginRequest{Code: code})
	if err != nil {
		t.Fatal(err)
	}
	me := bearer(sess.AccessToken)
	if _, err := residents.BindPhone(me, &redpointv1.BindPhoneRequest{PhoneCode: "phone-" + phone}); err != nil {
		t.Fatal(err)
	}
	if r, err := residents.SetSubscription(me, &redpointv1.SetSubscriptionRequest{Subscribed: true}); err != nil || !r.Subscribed {
		t.Fatalf("subscribe: %v, %v", r, err)
	}
	return me
}
