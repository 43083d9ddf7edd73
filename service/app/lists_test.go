package app_test

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/changzhi/redpoint/ent/notification"
	"github.com/changzhi/redpoint/ent/reportsnapshot"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
)

// lister reads one page of a list RPC: its items and the next page's token.
type lister func(ctx context.Context, size int32, token string) ([]proto.Message, string, error)

// listCase is one list RPC with one set of request fields, read as one
// caller.
type listCase struct {
	name  string
	as    context.Context
	small int32 // a page size that spreads the list over several pages
	list  lister
	order order // the list's documented order
}

// order compares two items of a list: negative when a comes first.
type order func(a, b proto.Message) int

// by is the order of the comparisons cs, most significant first.
func by[M proto.Message](cs ...func(a, b M) int) order {
	return func(a, b proto.Message) int {
		for _, c := range cs {
			if r := c(a.(M), b.(M)); r != 0 {
				return r
			}
		}
		return 0
	}
}

// idOf is the number that ends a resource name (errands/7/events/12: 12).
func idOf(name string) int {
	n, err := strconv.Atoi(name[strings.LastIndexByte(name, '/')+1:])
	if err != nil {
		panic(name)
	}
	return n
}

func byTime(a, b *timestamppb.Timestamp) int { return a.AsTime().Compare(b.AsTime()) }

// errandOrder is ListErrands' order for order_by: the time, then the id,
// both in its direction.
func errandOrder(orderBy string) order {
	field, dir, _ := strings.Cut(orderBy, " ")
	sign := 1
	if orderBy == "" || dir == "desc" {
		sign = -1
	}
	get := map[string]func(*redpointv1.Errand) *timestamppb.Timestamp{
		"": (*redpointv1.Errand).GetUpdateTime, "update_time": (*redpointv1.Errand).GetUpdateTime,
		"due_time": (*redpointv1.Errand).GetDueTime, "create_time": (*redpointv1.Errand).GetCreateTime,
	}[field]
	return by(func(a, b *redpointv1.Errand) int { return sign * byTime(get(a), get(b)) },
		func(a, b *redpointv1.Errand) int { return sign * cmp.Compare(idOf(a.Name), idOf(b.Name)) })
}

// items are a response's messages as proto.Messages.
func items[T proto.Message](xs []T) []proto.Message {
	out := make([]proto.Message, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// walk reads a whole list page by page and says how many pages it took. A
// page holds at most size items, and only the last may hold fewer.
func walk(t *testing.T, c listCase, size int32) ([]proto.Message, int) {
	t.Helper()
	var all []proto.Message
	token := ""
	for pages := 1; ; pages++ {
		page, next, err := c.list(c.as, size, token)
		if err != nil {
			t.Fatalf("page %d of %d: %v", pages, size, err)
		}
		if len(page) > int(size) || (next != "" && len(page) != int(size)) {
			t.Fatalf("page %d holds %d of %d, next %q", pages, len(page), size, next)
		}
		all = append(all, page...)
		if next == "" {
			return all, pages
		}
		if pages > 10000 {
			t.Fatal("the list does not end")
		}
		token = next
	}
}

// listWorld is a demo with a few rows the demo doesn't make (snapshots,
// notifications, audit entries) and every list RPC read page by page. The
// demo's errands were last changed at times with nanoseconds, which a
// cursor cut to microseconds once repeated in update_time order.
func listWorld(t *testing.T) []listCase {
	t.Helper()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	// A week after the seed, more of its errands are overdue.
	later := now.AddDate(0, 0, 7)
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: now, Errands: 300}, Clock: func() time.Time { return later }})
	ctx := context.Background()
	db := s.App.Store.Client
	city := s.As(t, ctx, demo.CityAdminPhone)
	county := s.As(t, ctx, demo.CountyAdminPhone)
	danzhu := s.As(t, ctx, demo.DanzhuSecretaryPhone)
	agent := s.As(t, ctx, demo.GuhanAgentPhone)

	// Rows the lists below page through. Equal create times make ties
	// that only the id breaks.
	for i := range 5 {
		if err := db.ReportSnapshot.Create().SetRegionID("140428100000").SetKind(reportsnapshot.KindMONTHLY_REPORT).
			SetPeriod(fmt.Sprintf("2026-%02d", i+1)).SetFileName(fmt.Sprintf("r%d.xlsx", i)).SetContent([]byte("x")).
			SetCreateTime(now).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := db.User.Query().Where(user.Phone(demo.CityAdminPhone)).Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		n := db.Notification.Create().SetUserID(admin.ID).SetKind(notification.KindSLA_REMINDER).SetErrandID(1).
			SetRegionID("140400000000").SetDedupKey(fmt.Sprintf("lists-%d", i)).SetTitle("提醒").SetCreateTime(now)
		if i%2 == 0 {
			n.SetReadTime(now)
		}
		if err := n.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 9 {
		if err := db.AuditEntry.Create().SetActorUserID(admin.ID).SetAction("/test/Action").SetRegionID("140428100201").
			SetUnmaskedRead(i%3 == 0).SetCreateTime(now).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	wx := redpointv1.NewResidentServiceClient(s.GRPC)
	sess, err := wx.WechatLogin(ctx, &redpointv1.WechatLoginRequest{Code: "demo-lists"})
	if err != nil {
		t.Fatalf("WeChat login: %v", err)
	}
	resident := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+sess.AccessToken)
	if _, err := wx.BindPhone(resident, &redpointv1.BindPhoneRequest{PhoneCode: "phone-" + demo.ResidentPhone}); err != nil {
		t.Fatalf("bind phone: %v", err)
	}

	regions := redpointv1.NewRegionServiceClient(s.GRPC)
	points := redpointv1.NewServicePointServiceClient(s.GRPC)
	types := redpointv1.NewErrandTypeServiceClient(s.GRPC)
	errands := redpointv1.NewErrandServiceClient(s.GRPC)
	reports := redpointv1.NewReportServiceClient(s.GRPC)
	audits := redpointv1.NewAuditServiceClient(s.GRPC)
	users := redpointv1.NewUserServiceClient(s.GRPC)
	notes := redpointv1.NewNotificationServiceClient(s.GRPC)
	boards := redpointv1.NewLeaderboardServiceClient(s.GRPC)

	cases := []listCase{
		{"regions", city, 2, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
			r, err := regions.ListRegions(ctx, &redpointv1.ListRegionsRequest{Parent: "regions/140423000000", PageSize: n, PageToken: tok})
			return items(r.GetRegions()), r.GetNextPageToken(), err
		}, by(func(a, b *redpointv1.Region) int { return strings.Compare(a.Code, b.Code) })},
		{"service points", city, 9, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
			r, err := points.ListServicePoints(ctx, &redpointv1.ListServicePointsRequest{Parent: "regions/140423000000", PageSize: n, PageToken: tok})
			return items(r.GetServicePoints()), r.GetNextPageToken(), err
		}, by(func(a, b *redpointv1.ServicePoint) int { return strings.Compare(a.Region, b.Region) },
			func(a, b *redpointv1.ServicePoint) int { return cmp.Compare(idOf(a.Name), idOf(b.Name)) })},
		{"errand types", city, 3, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
			r, err := types.ListErrandTypes(ctx, &redpointv1.ListErrandTypesRequest{ShowInactive: true, PageSize: n, PageToken: tok})
			return items(r.GetErrandTypes()), r.GetNextPageToken(), err
		}, by(func(a, b *redpointv1.ErrandType) int { return strings.Compare(a.Code, b.Code) })},
		{"overdue errands", city, 1, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
			r, err := reports.ListOverdueErrands(ctx, &redpointv1.ListOverdueErrandsRequest{Parent: "regions/140400000000", PageSize: n, PageToken: tok})
			return items(r.GetOverdueErrands()), r.GetNextPageToken(), err
		}, by(func(a, b *redpointv1.OverdueErrand) int { return byTime(a.DueTime, b.DueTime) },
			func(a, b *redpointv1.OverdueErrand) int { return cmp.Compare(idOf(a.Errand), idOf(b.Errand)) })},
		{"follow-ups", city, 1, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
			r, err := reports.ListFollowUps(ctx, &redpointv1.ListFollowUpsRequest{Parent: "regions/140400000000", PageSize: n, PageToken: tok})
			return items(r.GetFollowUps()), r.GetNextPageToken(), err
		}, by(func(a, b *redpointv1.FollowUp) int { return -cmp.Compare(boolInt(a.Open), boolInt(b.Open)) },
			func(a, b *redpointv1.FollowUp) int { return byTime(a.CreateTime, b.CreateTime) },
			func(a, b *redpointv1.FollowUp) int { return cmp.Compare(idOf(a.Name), idOf(b.Name)) })},
		{"report snapshots", danzhu, 1, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
			r, err := reports.ListReportSnapshots(ctx, &redpointv1.ListReportSnapshotsRequest{Parent: "regions/140428100000", PageSize: n, PageToken: tok})
			return items(r.GetReportSnapshots()), r.GetNextPageToken(), err
		}, by(func(a, b *redpointv1.ReportSnapshot) int { return cmp.Compare(idOf(b.Name), idOf(a.Name)) })},
		{"audit entries", city, 2, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
			r, err := audits.ListAuditEntries(ctx, &redpointv1.ListAuditEntriesRequest{Parent: "regions/140428100000", PageSize: n, PageToken: tok})
			return items(r.GetAuditEntries()), r.GetNextPageToken(), err
		}, by(func(a, b *redpointv1.AuditEntry) int { return cmp.Compare(idOf(b.Name), idOf(a.Name)) })},
		{"unmasked reads", city, 1, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
			r, err := audits.ListAuditEntries(ctx, &redpointv1.ListAuditEntriesRequest{Parent: "regions/140428100000", Filter: "unmasked_read = true", PageSize: n, PageToken: tok})
			return items(r.GetAuditEntries()), r.GetNextPageToken(), err
		}, by(func(a, b *redpointv1.AuditEntry) int { return cmp.Compare(idOf(b.Name), idOf(a.Name)) })},
		{"users", city, 50, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
			r, err := users.ListUsers(ctx, &redpointv1.ListUsersRequest{Parent: "regions/140423000000", PageSize: n, PageToken: tok})
			return items(r.GetUsers()), r.GetNextPageToken(), err
		}, by(func(a, b *redpointv1.User) int { return cmp.Compare(idOf(a.Name), idOf(b.Name)) })},
		{"notifications", city, 2, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
			r, err := notes.ListNotifications(ctx, &redpointv1.ListNotificationsRequest{Parent: "users/me", PageSize: n, PageToken: tok})
			return items(r.GetNotifications()), r.GetNextPageToken(), err
		}, by(func(a, b *redpointv1.Notification) int { return cmp.Compare(idOf(b.Name), idOf(a.Name)) })},
		{"unread notifications", city, 1, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
			r, err := notes.ListNotifications(ctx, &redpointv1.ListNotificationsRequest{Parent: "users/me", UnreadOnly: true, PageSize: n, PageToken: tok})
			return items(r.GetNotifications()), r.GetNextPageToken(), err
		}, by(func(a, b *redpointv1.Notification) int { return cmp.Compare(idOf(b.Name), idOf(a.Name)) })},
		{"leaderboard", city, 30, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
			r, err := boards.ListLeaderboardEntries(ctx, &redpointv1.ListLeaderboardEntriesRequest{Parent: "regions/140423000000", Period: "2026-11", PageSize: n, PageToken: tok})
			return items(r.GetEntries()), r.GetNextPageToken(), err
		}, by(func(a, b *redpointv1.LeaderboardEntry) int { return cmp.Compare(a.Rank, b.Rank) })},
		{"a resident's errands", resident, 2, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
			r, err := wx.ListMyErrands(ctx, &redpointv1.ListMyErrandsRequest{PageSize: n, PageToken: tok})
			return items(r.GetErrands()), r.GetNextPageToken(), err
		}, by(func(a, b *redpointv1.ResidentErrand) int { return byTime(b.AcceptTime, a.AcceptTime) },
			func(a, b *redpointv1.ResidentErrand) int { return cmp.Compare(idOf(b.Name), idOf(a.Name)) })},
	}
	for _, order := range []string{"", "update_time", "due_time", "due_time desc", "create_time", "create_time desc"} {
		for _, filter := range []string{"", "state = COMPLETED"} {
			cases = append(cases, listCase{fmt.Sprintf("errands by %q where %q", order, filter), county, 7,
				func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
					r, err := errands.ListErrands(ctx, &redpointv1.ListErrandsRequest{OrderBy: order, Filter: filter, PageSize: n, PageToken: tok})
					return items(r.GetErrands()), r.GetNextPageToken(), err
				}, errandOrder(order)})
		}
	}
	cases = append(cases, listCase{"an agent's errands", agent, 2, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
		r, err := errands.ListErrands(ctx, &redpointv1.ListErrandsRequest{PageSize: n, PageToken: tok})
		return items(r.GetErrands()), r.GetNextPageToken(), err
	}, errandOrder("")})
	first, err := errands.ListErrands(agent, &redpointv1.ListErrandsRequest{Filter: "state = COMPLETED", PageSize: 1})
	if err != nil || len(first.Errands) != 1 {
		t.Fatalf("an agent's first completed errand: %v, %v", first, err)
	}
	cases = append(cases, listCase{"an errand's history", agent, 1, func(ctx context.Context, n int32, tok string) ([]proto.Message, string, error) {
		r, err := errands.ListErrandEvents(ctx, &redpointv1.ListErrandEventsRequest{Parent: first.Errands[0].Name, PageSize: n, PageToken: tok})
		return items(r.GetEvents()), r.GetNextPageToken(), err
	}, by(func(a, b *redpointv1.ErrandEvent) int { return cmp.Compare(idOf(a.Name), idOf(b.Name)) })})
	return cases
}

// TestEveryListPagesLikeOnePage: read page by page, every list RPC gives
// the rows one large page gives, in the same order, each once, with no
// page short before the last; and that order is the list's documented one,
// the id breaking ties.
func TestEveryListPagesLikeOnePage(t *testing.T) {
	cases := listWorld(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			whole, pages := walk(t, c, 500)
			if pages != 1 || len(whole) < 3*int(c.small) {
				t.Fatalf("one page of 500 holds %d rows in %d pages; want one page of at least %d", len(whole), pages, 3*c.small)
			}
			paged, pages := walk(t, c, c.small)
			if diff := gocmp.Diff(whole, paged, protocmp.Transform()); diff != "" {
				t.Errorf("read %d at a time (%d pages) differs from one page (-one +paged):\n%s", c.small, pages, diff)
			}
			for i := 1; i < len(whole); i++ {
				if c.order(whole[i-1], whole[i]) >= 0 {
					t.Fatalf("out of order at %d:\n%v\nbefore\n%v", i, whole[i-1], whole[i])
				}
			}
		})
	}
}

// boolInt orders false before true.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
