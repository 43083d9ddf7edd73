package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/changzhi/redpoint/ent"
	"github.com/changzhi/redpoint/ent/attachment"
	"github.com/changzhi/redpoint/ent/errand"
	"github.com/changzhi/redpoint/ent/predicate"
	"github.com/changzhi/redpoint/ent/rating"
	"github.com/changzhi/redpoint/ent/region"
	"github.com/changzhi/redpoint/ent/servicepoint"
	"github.com/changzhi/redpoint/ent/user"
	redpointv1 "github.com/changzhi/redpoint/gen/redpoint/v1"
	"github.com/changzhi/redpoint/service/access"
	"github.com/changzhi/redpoint/service/app/apptest"
	"github.com/changzhi/redpoint/service/demo"
	"github.com/changzhi/redpoint/service/regioncode"
	"github.com/changzhi/redpoint/service/testutil"
)

// target is where a call's resource lies, seen from the 古韩镇 accounts.
type target int

const (
	own           target = iota // 古韩镇 (the agent's own point and its village), 襄垣县
	otherVillage                // another village of 古韩镇, with a point of its own
	otherTownship               // another township of 襄垣县
	otherCounty                 // 丹朱镇, 长子县
	targets                     // how many
)

func (t target) String() string {
	return [...]string{"own", "other-village", "other-township", "other-county"}[t]
}

// world holds one resource of each kind per target. township is the
// region a region-scoped call names: the target's township, or, for a
// caller scoped to a village (forCaller), the village of the target's point.
type world struct {
	errand, point, agent, township, village, followUp [targets]string
	attachment                                        [targets]string // a receipt on errand
	followUpErrand                                    [targets]string // the errand of followUp
}

// forCaller is w as c's fixtures see it: a caller scoped to a village names
// the target's village where the others name its township, so that "own"
// is its own village and "other-village" its neighbour in the township.
func (w *world) forCaller(c caller) *world {
	if c.role != access.RoleVillageSecretary {
		return w
	}
	out := *w
	out.township = w.village
	return &out
}

// caller is a demo account and the scope it has.
type caller struct {
	name  string
	phone string // "" for anonymous
	role  access.Role
	// sees says whether a resource at each target lies in its scope.
	sees [targets]bool
}

// callers, from the village up: the village secretary comes before the
// township's, so that it is the one that closes its village's follow-up.
var callers = []caller{
	{"anonymous", "", "", [targets]bool{}},
	{"agent", demo.GuhanAgentPhone, access.RoleAgent, [targets]bool{true, false, false, false}},
	{"village secretary", demo.GuhanVillagePhone, access.RoleVillageSecretary, [targets]bool{true, false, false, false}},
	{"township secretary", demo.GuhanSecretaryPhone, access.RoleTownshipSecretary, [targets]bool{true, true, false, false}},
	{"county admin", demo.CountyAdminPhone, access.RoleCountyAdmin, [targets]bool{true, true, true, false}},
	{"city admin", demo.CityAdminPhone, access.RoleCityAdmin, [targets]bool{true, true, true, true}},
}

var uniq atomic.Int64

func next() int64 { return uniq.Add(1) }

// fixtures build each RPC's request against a target. The matrix fails
// when the policy table names an RPC that has no fixture here.
var fixtures = map[string]func(w *world, t target) proto.Message{
	"/redpoint.v1.RegionService/GetRegion": func(w *world, t target) proto.Message {
		return &redpointv1.GetRegionRequest{Name: w.township[t]}
	},
	"/redpoint.v1.RegionService/ListRegions": func(w *world, t target) proto.Message {
		return &redpointv1.ListRegionsRequest{Parent: w.township[t]}
	},
	"/redpoint.v1.ServicePointService/GetServicePoint": func(w *world, t target) proto.Message {
		return &redpointv1.GetServicePointRequest{Name: w.point[t]}
	},
	"/redpoint.v1.ServicePointService/ListServicePoints": func(w *world, t target) proto.Message {
		return &redpointv1.ListServicePointsRequest{Parent: w.township[t]}
	},
	"/redpoint.v1.ServicePointService/CreateServicePoint": func(w *world, t target) proto.Message {
		return &redpointv1.CreateServicePointRequest{ServicePoint: &redpointv1.ServicePoint{DisplayName: fmt.Sprintf("测试代办点%d", next()), Region: w.village[t]}}
	},
	"/redpoint.v1.ServicePointService/UpdateServicePoint": func(w *world, t target) proto.Message {
		return &redpointv1.UpdateServicePointRequest{ServicePoint: &redpointv1.ServicePoint{Name: w.point[t], Phone: "0355-1234567"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"phone"}}}
	},
	"/redpoint.v1.ErrandTypeService/GetErrandType": func(*world, target) proto.Message {
		return &redpointv1.GetErrandTypeRequest{Name: "errandTypes/MI-PAYMENT"}
	},
	"/redpoint.v1.ErrandTypeService/ListErrandTypes": func(*world, target) proto.Message {
		return &redpointv1.ListErrandTypesRequest{}
	},
	"/redpoint.v1.ErrandTypeService/CreateErrandType": func(*world, target) proto.Message {
		return &redpointv1.CreateErrandTypeRequest{ErrandTypeId: fmt.Sprintf("T-%d", next()),
			ErrandType: &redpointv1.ErrandType{DisplayName: "测试事项", Department: "测试局", TimeLimitDays: 3}}
	},
	"/redpoint.v1.ErrandTypeService/UpdateErrandType": func(*world, target) proto.Message {
		return &redpointv1.UpdateErrandTypeRequest{ErrandType: &redpointv1.ErrandType{Name: "errandTypes/HC-RENOVATION", Description: "农村危房改造"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}}}
	},
	"/redpoint.v1.ErrandTypeService/CreateErrandTypeAdmission": func(w *world, t target) proto.Message {
		return &redpointv1.CreateErrandTypeAdmissionRequest{Parent: countyOf(w.township[t]), ErrandTypeAdmission: &redpointv1.ErrandTypeAdmission{
			ErrandType:    fmt.Sprintf("errandTypes/P-%d", next()),
			NewErrandType: &redpointv1.ErrandType{DisplayName: "测试县级事项", Department: "测试局", TimeLimitDays: 5}}}
	},
	"/redpoint.v1.ErrandTypeService/ListErrandTypeAdmissions": func(w *world, t target) proto.Message {
		return &redpointv1.ListErrandTypeAdmissionsRequest{Parent: countyOf(w.township[t])}
	},
	"/redpoint.v1.ErrandTypeService/AdmitErrandTypeAdmission": func(w *world, t target) proto.Message {
		return &redpointv1.AdmitErrandTypeAdmissionRequest{Name: countyOf(w.township[t]) + "/errandTypeAdmissions/999999"}
	},
	"/redpoint.v1.ErrandTypeService/RejectErrandTypeAdmission": func(w *world, t target) proto.Message {
		return &redpointv1.RejectErrandTypeAdmissionRequest{Name: countyOf(w.township[t]) + "/errandTypeAdmissions/999999", Note: "不符合条件"}
	},
	"/redpoint.v1.CalendarService/ListCalendarDays": func(*world, target) proto.Message {
		return &redpointv1.ListCalendarDaysRequest{Year: 2026}
	},
	"/redpoint.v1.CalendarService/LoadCalendarYear": func(*world, target) proto.Message {
		return &redpointv1.LoadCalendarYearRequest{Year: 2030, CalendarDays: []*redpointv1.CalendarDay{
			{Date: "2030-01-01", Kind: redpointv1.CalendarDayKind_CALENDAR_DAY_KIND_HOLIDAY, DisplayName: "元旦"}}}
	},
	"/redpoint.v1.AuthService/Login": func(*world, target) proto.Message {
		return &redpointv1.LoginRequest{Phone: "13000000000", Password: "not-the-password"}
	},
	"/redpoint.v1.AuthService/RefreshSession": func(*world, target) proto.Message {
		return &redpointv1.RefreshSessionRequest{RefreshToken: "no-such-token"}
	},
	"/redpoint.v1.AuthService/Logout": func(*world, target) proto.Message {
		return &redpointv1.LogoutRequest{RefreshToken: "no-such-token"}
	},
	"/redpoint.v1.ErrandService/CreateErrand": func(*world, target) proto.Message {
		return &redpointv1.CreateErrandRequest{RequestId: fmt.Sprintf("perm-%d", next()), Errand: &redpointv1.Errand{
			ErrandType: "errandTypes/MI-PAYMENT", ResidentName: "测试", ResidentPhone: "13912340001"}}
	},
	"/redpoint.v1.ErrandService/BatchCreateErrands": func(*world, target) proto.Message {
		return &redpointv1.BatchCreateErrandsRequest{Requests: []*redpointv1.CreateErrandRequest{{RequestId: fmt.Sprintf("perm-%d", next()),
			Errand: &redpointv1.Errand{ErrandType: "errandTypes/MI-PAYMENT", ResidentName: "测试", ResidentPhone: "13912340001"}}}}
	},
	"/redpoint.v1.ErrandService/GetErrand": func(w *world, t target) proto.Message {
		return &redpointv1.GetErrandRequest{Name: w.errand[t]}
	},
	"/redpoint.v1.ErrandService/ListErrands": func(w *world, t target) proto.Message {
		return &redpointv1.ListErrandsRequest{PageSize: 500}
	},
	"/redpoint.v1.ErrandService/SyncErrands": func(w *world, t target) proto.Message {
		return &redpointv1.SyncErrandsRequest{PageSize: 500}
	},
	"/redpoint.v1.ErrandService/ListErrandEvents": func(w *world, t target) proto.Message {
		return &redpointv1.ListErrandEventsRequest{Parent: w.errand[t]}
	},
	"/redpoint.v1.ErrandService/UpdateErrand": func(w *world, t target) proto.Message {
		return &redpointv1.UpdateErrandRequest{Errand: &redpointv1.Errand{Name: w.errand[t], Description: "权限测试"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}}}
	},
	"/redpoint.v1.ErrandService/StartErrand": func(w *world, t target) proto.Message {
		return &redpointv1.StartErrandRequest{Name: w.errand[t]}
	},
	"/redpoint.v1.ErrandService/ForwardErrand": func(w *world, t target) proto.Message {
		return &redpointv1.ForwardErrandRequest{Name: w.errand[t], Office: "测试单位"}
	},
	"/redpoint.v1.ErrandService/RequestErrandMaterials": func(w *world, t target) proto.Message {
		return &redpointv1.RequestErrandMaterialsRequest{Name: w.errand[t], MissingMaterials: []string{"户口簿"}}
	},
	"/redpoint.v1.ErrandService/CompleteErrand": func(w *world, t target) proto.Message {
		return &redpointv1.CompleteErrandRequest{Name: w.errand[t], Result: "测试"}
	},
	"/redpoint.v1.ErrandService/CancelErrand": func(w *world, t target) proto.Message {
		return &redpointv1.CancelErrandRequest{Name: w.errand[t], Reason: "测试"}
	},
	"/redpoint.v1.ErrandService/CreateConsentCode": func(w *world, t target) proto.Message {
		return &redpointv1.CreateConsentCodeRequest{Name: w.errand[t]}
	},
	"/redpoint.v1.ErrandService/RecordPaperConsent": func(w *world, t target) proto.Message {
		return &redpointv1.RecordPaperConsentRequest{Name: w.errand[t], WitnessName: "村委会主任"}
	},
	"/redpoint.v1.UserService/GetUser": func(w *world, t target) proto.Message {
		return &redpointv1.GetUserRequest{Name: w.agent[t]}
	},
	"/redpoint.v1.UserService/ListUsers": func(w *world, t target) proto.Message {
		return &redpointv1.ListUsersRequest{Parent: w.township[t], PageSize: 500}
	},
	"/redpoint.v1.UserService/CreateUser": func(w *world, t target) proto.Message {
		return &redpointv1.CreateUserRequest{Password: "long-enough-1", User: &redpointv1.User{
			Phone: fmt.Sprintf("1370%07d", 9000000+next()), DisplayName: "新代办员", Role: redpointv1.Role_ROLE_AGENT, ServicePoint: w.point[t]}}
	},
	"/redpoint.v1.UserService/UpdateUser": func(w *world, t target) proto.Message {
		return &redpointv1.UpdateUserRequest{User: &redpointv1.User{Name: w.agent[t], DisplayName: "改名"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}
	},
	"/redpoint.v1.UserService/ResetUserPassword": func(w *world, t target) proto.Message {
		return &redpointv1.ResetUserPasswordRequest{Name: w.agent[t], Password: "long-enough-2"}
	},
	"/redpoint.v1.NotificationService/ListNotifications": func(*world, target) proto.Message {
		return &redpointv1.ListNotificationsRequest{Parent: "users/me"}
	},
	"/redpoint.v1.NotificationService/MarkNotificationRead": func(*world, target) proto.Message {
		return &redpointv1.MarkNotificationReadRequest{Name: "users/me/notifications/999999"}
	},
	"/redpoint.v1.JobService/ListFailedJobs": func(*world, target) proto.Message {
		return &redpointv1.ListFailedJobsRequest{}
	},
	"/redpoint.v1.JobService/RetryFailedJob": func(*world, target) proto.Message {
		return &redpointv1.RetryFailedJobRequest{Name: "failedJobs/no-such-job"}
	},
	"/redpoint.v1.ReportService/GetWorkload": func(w *world, t target) proto.Message {
		return &redpointv1.GetWorkloadRequest{Name: w.township[t] + "/workload", Period: "2026-11", GroupBy: "AGENT"}
	},
	"/redpoint.v1.ReportService/ExportWorkload": func(w *world, t target) proto.Message {
		return &redpointv1.ExportWorkloadRequest{Name: w.township[t] + "/workload", Period: "2026-11"}
	},
	"/redpoint.v1.ReportService/ListOverdueErrands": func(w *world, t target) proto.Message {
		return &redpointv1.ListOverdueErrandsRequest{Parent: w.township[t]}
	},
	"/redpoint.v1.ReportService/ListFollowUps": func(w *world, t target) proto.Message {
		return &redpointv1.ListFollowUpsRequest{Parent: w.township[t]}
	},
	"/redpoint.v1.ErrandService/ReopenErrand": func(w *world, t target) proto.Message {
		return &redpointv1.ReopenErrandRequest{Name: w.followUpErrand[t], FollowUp: w.followUp[t], Reason: "回访核实未办结"}
	},
	"/redpoint.v1.ReportService/CloseFollowUp": func(w *world, t target) proto.Message {
		return &redpointv1.CloseFollowUpRequest{Name: w.followUp[t], Note: "已电话回访", Outcome: "RESOLVED"}
	},
	"/redpoint.v1.ReportService/ListReportSnapshots": func(w *world, t target) proto.Message {
		return &redpointv1.ListReportSnapshotsRequest{Parent: w.township[t]}
	},
	"/redpoint.v1.ReportService/DownloadReportSnapshot": func(w *world, t target) proto.Message {
		return &redpointv1.DownloadReportSnapshotRequest{Name: w.township[t] + "/reportSnapshots/999999"}
	},
	"/redpoint.v1.ReportService/GetQuarterlyReview": func(w *world, t target) proto.Message {
		return &redpointv1.GetQuarterlyReviewRequest{Name: w.township[t] + "/quarterlyReviews/2026-Q3"}
	},
	"/redpoint.v1.LeaderboardService/ListLeaderboardEntries": func(w *world, t target) proto.Message {
		return &redpointv1.ListLeaderboardEntriesRequest{Parent: w.township[t], Period: "2026-11"}
	},
	"/redpoint.v1.LeaderboardService/GetServicePointRank": func(w *world, t target) proto.Message {
		return &redpointv1.GetServicePointRankRequest{ServicePoint: w.point[t], Period: "2026-11"}
	},
	"/redpoint.v1.LeaderboardService/RebuildLeaderboard": func(*world, target) proto.Message {
		return &redpointv1.RebuildLeaderboardRequest{Period: "2026-10"}
	},
	"/redpoint.v1.ResidentService/LookupErrand": func(*world, target) proto.Message {
		return &redpointv1.LookupErrandRequest{TrackingCode: "00000-00000-00000", PhoneLast4: "0001"}
	},
	"/redpoint.v1.ResidentService/WechatLogin": func(*world, target) proto.Message {
		return &redpointv1.WechatLoginRequest{Code: "not-a-demo-code"}
	},
	"/redpoint.v1.ResidentService/BindPhone": func(*world, target) proto.Message {
		return &redpointv1.BindPhoneRequest{PhoneCode: "phone-13900000001"}
	},
	"/redpoint.v1.ResidentService/SetSubscription": func(*world, target) proto.Message {
		return &redpointv1.SetSubscriptionRequest{Subscribed: true}
	},
	"/redpoint.v1.ResidentService/ListMyErrands": func(*world, target) proto.Message {
		return &redpointv1.ListMyErrandsRequest{}
	},
	"/redpoint.v1.ResidentService/RateMyErrand": func(*world, target) proto.Message {
		return &redpointv1.RateMyErrandRequest{Name: "residents/me/errands/1", Level: redpointv1.RatingLevel_RATING_LEVEL_SATISFIED}
	},
	"/redpoint.v1.ResidentService/ReopenMyErrand": func(*world, target) proto.Message {
		return &redpointv1.ReopenMyErrandRequest{Name: "residents/me/errands/1", Reason: "没有办好"}
	},
	"/redpoint.v1.ResidentService/GetMyErrand": func(w *world, t target) proto.Message {
		return &redpointv1.GetMyErrandRequest{Name: "residents/me/errands/1"}
	},
	"/redpoint.v1.ResidentService/PreviewConsent": func(*world, target) proto.Message {
		return &redpointv1.PreviewConsentRequest{Code: "redpoint:consent:0123456789ABCDEFGHJK"}
	},
	"/redpoint.v1.ResidentService/GrantConsent": func(*world, target) proto.Message {
		return &redpointv1.GrantConsentRequest{Code: "0123456789ABCDEFGHJK"}
	},
	"/redpoint.v1.ResidentService/RevokeConsent": func(*world, target) proto.Message {
		return &redpointv1.RevokeConsentRequest{Name: "residents/me/errands/1", Reason: "测试"}
	},
	"/redpoint.v1.AttachmentService/CreateAttachmentUpload": func(w *world, t target) proto.Message {
		return &redpointv1.CreateAttachmentUploadRequest{Parent: w.errand[t],
			Attachment: &redpointv1.Attachment{Kind: redpointv1.AttachmentKind_ATTACHMENT_KIND_RECEIPT, FileName: "回执.jpg"}}
	},
	"/redpoint.v1.AttachmentService/ListAttachments": func(w *world, t target) proto.Message {
		return &redpointv1.ListAttachmentsRequest{Parent: w.errand[t]}
	},
	"/redpoint.v1.AttachmentService/GetAttachment": func(w *world, t target) proto.Message {
		return &redpointv1.GetAttachmentRequest{Name: w.attachment[t]}
	},
	"/redpoint.v1.AttachmentService/DeleteAttachment": func(w *world, t target) proto.Message {
		return &redpointv1.DeleteAttachmentRequest{Name: w.attachment[t], Reason: "权限测试"}
	},
	"/redpoint.v1.ResidentService/ListMyErrandAttachments": func(*world, target) proto.Message {
		return &redpointv1.ListMyErrandAttachmentsRequest{Parent: "residents/me/errands/1"}
	},
	"/redpoint.v1.AuditService/ListAuditEntries": func(w *world, t target) proto.Message {
		return &redpointv1.ListAuditEntriesRequest{Parent: w.township[t]}
	},
}

// countyOf names the county of a township's name (regions/{code}).
func countyOf(township string) string {
	return township[:len("regions/")+6] + "000000"
}

// scoped reports whether policy p's scope check depends on the target.
func scoped(p access.Policy) bool {
	return p.Scope == access.ScopeResource || p.Scope == access.ScopeParent
}

// expectAllowed is what the policy table and the scopes promise.
func expectAllowed(method string, p access.Policy, c caller, t target) bool {
	if p.Public {
		return true
	}
	if c.phone == "" || !contains(p.Roles, c.role) {
		return false
	}
	if strings.HasPrefix(method, "/redpoint.v1.UserService/") && method != "/redpoint.v1.UserService/ListUsers" {
		// Accounts: only those a caller manages (agents and village
		// secretaries manage none).
		return c.role != access.RoleAgent && c.role != access.RoleVillageSecretary && c.sees[t]
	}
	if scoped(p) {
		return c.sees[t]
	}
	return true
}

func contains(rs []access.Role, r access.Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

func buildWorld(t *testing.T, s *apptest.Server) *world {
	t.Helper()
	ctx := context.Background()
	db := s.App.Store.Client
	w := &world{}
	agentUser := db.User.Query().Where(user.Phone(demo.GuhanAgentPhone)).OnlyX(ctx)
	// A second 襄垣县 township, and each target's first point, village, errand and another agent.
	other := db.Region.Query().Where(region.ParentID("140423000000"), region.IDNEQ("140423100000"), region.HasChildren()).
		Order(ent.Asc(region.FieldID)).FirstX(ctx)
	prefixes := [targets]string{"140423100", "140423100", other.ID[:9], "140428100"}
	for i, prefix := range prefixes {
		lo, hi := regioncode.Code(prefix + "000").Range()
		w.township[i] = "regions/" + prefix + "000"
		var sp *ent.ServicePoint
		switch target(i) {
		case own:
			sp = db.ServicePoint.GetX(ctx, *agentUser.ServicePointID)
		case otherVillage: // a point of 古韩镇 outside the agent's village
			sp = db.ServicePoint.Query().Where(servicepoint.RegionIDGTE(lo), servicepoint.RegionIDLTE(hi), servicepoint.RegionIDNEQ(agentUser.RegionID),
				servicepoint.HasErrandsWith(errand.StateEQ(errand.StateCOMPLETED), errand.Not(errand.HasRating()))).Order(ent.Asc(servicepoint.FieldID)).FirstX(ctx)
		default:
			sp = db.ServicePoint.Query().Where(servicepoint.RegionIDGTE(lo), servicepoint.RegionIDLTE(hi)).Order(ent.Asc(servicepoint.FieldID)).FirstX(ctx)
		}
		w.point[i] = fmt.Sprintf("servicePoints/%d", sp.ID)
		w.village[i] = "regions/" + sp.RegionID
		e := db.Errand.Query().Where(errand.ServicePointID(sp.ID)).FirstX(ctx)
		w.errand[i] = fmt.Sprintf("errands/%d", e.ID)
		a := db.Attachment.Create().SetErrandID(e.ID).SetRegionID(e.RegionID).SetServicePointID(e.ServicePointID).
			SetKind(attachment.KindRECEIPT).SetState(attachment.StateREADY).SetUploaderID(e.AgentID).
			SetObjectKey(fmt.Sprintf("attachments/permission-%d", i)).SaveX(ctx)
		w.attachment[i] = fmt.Sprintf("errands/%d/attachments/%d", e.ID, a.ID)
		agents := db.User.Query().Where(user.RoleEQ(user.RoleAGENT), user.RegionIDGTE(lo), user.RegionIDLTE(hi),
			user.PhoneNotIn(demo.GuhanAgentPhone, demo.DanzhuAgentPhone))
		if target(i) == otherVillage {
			agents = agents.Where(user.RegionID(sp.RegionID))
		}
		ag := agents.Order(ent.Asc(user.FieldID)).FirstX(ctx)
		w.agent[i] = fmt.Sprintf("users/%d", ag.ID)
		// A bad rating's follow-up to close, on a completed errand there
		// (for own and other-village, in the point's village).
		near := []predicate.Errand{errand.RegionIDGTE(lo), errand.RegionIDLTE(hi)}
		if target(i) == own || target(i) == otherVillage {
			near = []predicate.Errand{errand.RegionID(sp.RegionID)}
		}
		done := db.Errand.Query().Where(near...).Where(errand.StateEQ(errand.StateCOMPLETED), errand.Not(errand.HasRating())).FirstX(ctx)
		r := db.Rating.Create().SetErrandID(done.ID).SetServicePointID(done.ServicePointID).SetRegionID(done.RegionID).SetLevel(rating.LevelDISSATISFIED).SaveX(ctx)
		f := db.FollowUp.Create().SetRatingID(r.ID).SetErrandID(done.ID).SetRegionID(done.RegionID).SaveX(ctx)
		w.followUp[i] = fmt.Sprintf("followUps/%d", f.ID)
		w.followUpErrand[i] = fmt.Sprintf("errands/%d", done.ID)
	}
	return w
}

// TestPermissionMatrix calls every RPC of the policy table as every role,
// against a resource in the caller's own scope, in another village of the
// same township, in another township and in another county, over gRPC and
// over REST. Allowed calls must not be
// denied; denied calls must be PERMISSION_DENIED (UNAUTHENTICATED when
// anonymous) and carry no resource data; lists may return only what is in
// the caller's scope.
func TestPermissionMatrix(t *testing.T) {
	testutil.SkipIfShort(t, "every RPC as every role over gRPC and REST, about 1,000 calls")
	s := apptest.Start(t, apptest.Options{Demo: &demo.Options{Now: time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC), Errands: 3000}})
	base := buildWorld(t, s)
	methods := make([]string, 0, len(access.Policies))
	for m := range access.Policies {
		if strings.HasPrefix(m, "/redpoint.v1.") {
			methods = append(methods, m)
		}
	}
	sort.Strings(methods)
	checked := 0
	for _, m := range methods {
		build, ok := fixtures[m]
		if !ok {
			t.Errorf("%s is in the policy table but has no fixture in the permission matrix", m)
			continue
		}
		pol := access.Policies[m]
		md := methodDescriptor(t, m)
		for _, c := range callers {
			w := base.forCaller(c)
			for tg := own; tg < targets; tg++ {
				if !scoped(pol) && tg != own {
					continue // the target doesn't matter; once is enough
				}
				want := expectAllowed(m, pol, c, tg)
				for _, transport := range []string{"grpc", "rest"} {
					name := fmt.Sprintf("%s/%s/%s/%s", strings.TrimPrefix(m, "/redpoint.v1."), c.name, tg, transport)
					req := build(w, tg)
					var code codes.Code
					var body []byte
					var resp proto.Message
					if transport == "grpc" {
						code, resp = callGRPC(t, s, md, c, req)
					} else {
						code, body = callREST(t, s, md, c, req)
					}
					checked++
					denied := code == codes.PermissionDenied || (code == codes.Unauthenticated && !pol.Public)
					if want && denied {
						t.Errorf("%s: denied (%v), the policy allows it", name, code)
						continue
					}
					if !want {
						wantCode := codes.PermissionDenied
						if c.phone == "" {
							wantCode = codes.Unauthenticated
						}
						if code != wantCode {
							t.Errorf("%s: %v, want %v", name, code, wantCode)
						}
						if resp != nil {
							t.Errorf("%s: a denied call returned %v", name, resp)
						}
						if body != nil && leaksData(body) {
							t.Errorf("%s: denial body has resource data: %s", name, body)
						}
						continue
					}
					if code == codes.OK && resp != nil {
						checkListScope(t, name, c, base, resp)
					}
				}
			}
		}
	}
	// Every RPC the API defines must be in the table (else it is denied to all).
	protoregistry.GlobalFiles.RangeFilesByPackage("redpoint.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := 0; i < fd.Services().Len(); i++ {
			svc := fd.Services().Get(i)
			for j := 0; j < svc.Methods().Len(); j++ {
				full := "/" + string(svc.FullName()) + "/" + string(svc.Methods().Get(j).Name())
				if _, ok := access.Policies[full]; !ok {
					t.Errorf("%s is not in the policy table", full)
				}
			}
		}
		return true
	})
	t.Logf("permission matrix: %d calls checked", checked)
}

func methodDescriptor(t *testing.T, full string) protoreflect.MethodDescriptor {
	t.Helper()
	parts := strings.Split(strings.TrimPrefix(full, "/"), "/")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(parts[0]))
	if err != nil {
		t.Fatalf("%s: %v", full, err)
	}
	return d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(parts[1]))
}

func callGRPC(t *testing.T, s *apptest.Server, md protoreflect.MethodDescriptor, c caller, req proto.Message) (codes.Code, proto.Message) {
	t.Helper()
	ctx := context.Background()
	if c.phone != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.Token(t, c.phone))
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err != nil {
		t.Fatal(err)
	}
	resp := mt.New().Interface()
	full := "/" + string(md.Parent().FullName()) + "/" + string(md.Name())
	if err := s.GRPC.Invoke(ctx, full, req, resp); err != nil {
		return status.Code(err), nil
	}
	return codes.OK, resp
}

var pathVar = regexp.MustCompile(`\{([a-z_.]+)(=[^}]*)?\}`)

// callREST sends req the way its google.api.http rule maps it.
func callREST(t *testing.T, s *apptest.Server, md protoreflect.MethodDescriptor, c caller, req proto.Message) (codes.Code, []byte) {
	t.Helper()
	rule := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
	var verb, tmpl string
	switch p := rule.Pattern.(type) {
	case *annotations.HttpRule_Get:
		verb, tmpl = http.MethodGet, p.Get
	case *annotations.HttpRule_Post:
		verb, tmpl = http.MethodPost, p.Post
	case *annotations.HttpRule_Patch:
		verb, tmpl = http.MethodPatch, p.Patch
	case *annotations.HttpRule_Delete:
		verb, tmpl = http.MethodDelete, p.Delete
	default:
		t.Fatalf("%s: unhandled HTTP rule %v", md.FullName(), rule)
	}
	inPath := map[string]bool{}
	path := pathVar.ReplaceAllStringFunc(tmpl, func(v string) string {
		field := pathVar.FindStringSubmatch(v)[1]
		inPath[field] = true
		return fieldValue(req.ProtoReflect(), field)
	})
	query := url.Values{}
	var body any
	fields := req.ProtoReflect().Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !req.ProtoReflect().Has(fd) || inPath[string(fd.Name())] {
			continue
		}
		switch {
		case rule.Body == "*":
		case rule.Body == string(fd.Name()):
			b, err := protojson.Marshal(req.ProtoReflect().Get(fd).Message().Interface())
			if err != nil {
				t.Fatal(err)
			}
			body = b
		case fd.Message() != nil && fd.Message().FullName() == "google.protobuf.FieldMask":
			query.Set(fd.JSONName(), strings.Join(req.ProtoReflect().Get(fd).Message().Interface().(*fieldmaskpb.FieldMask).Paths, ","))
		case fd.Kind() != protoreflect.MessageKind && !fd.IsList():
			query.Set(fd.JSONName(), fmt.Sprint(req.ProtoReflect().Get(fd).Interface()))
		}
	}
	if rule.Body == "*" {
		b, err := protojson.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		body = b
	}
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	token := ""
	if c.phone != "" {
		token = s.Token(t, c.phone)
	}
	status, raw := s.DoToken(t, token, verb, path, body)
	if status == http.StatusOK {
		return codes.OK, nil
	}
	var e struct{ Code int }
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("%s %s: %d %s", verb, path, status, raw)
	}
	return codes.Code(e.Code), raw
}

func fieldValue(m protoreflect.Message, path string) string {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		m = m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(p))).Message()
	}
	return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(parts[len(parts)-1]))).String()
}

// leaksData reports whether an error body holds more than a status.
func leaksData(body []byte) bool {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return true
	}
	for k := range m {
		if k != "code" && k != "message" && k != "details" {
			return true
		}
	}
	for _, secret := range []string{"errands/", "resident", "trackingCode", "servicePoints/", "users/"} {
		if strings.Contains(string(body), secret) {
			return true
		}
	}
	return false
}

// checkListScope checks that a list answer holds only what c may see.
func checkListScope(t *testing.T, name string, c caller, w *world, resp proto.Message) {
	t.Helper()
	var regions []string
	switch r := resp.(type) {
	case *redpointv1.ListErrandsResponse:
		for _, e := range r.Errands {
			regions = append(regions, e.Region)
		}
	case *redpointv1.SyncErrandsResponse:
		for _, e := range r.Errands {
			regions = append(regions, e.Region)
		}
	case *redpointv1.ListUsersResponse:
		for _, u := range r.Users {
			regions = append(regions, u.Region)
		}
	case *redpointv1.ListAuditEntriesResponse:
		for _, a := range r.AuditEntries {
			regions = append(regions, a.Region)
		}
	case *redpointv1.ListErrandTypeAdmissionsResponse:
		for _, a := range r.ErrandTypeAdmissions {
			regions = append(regions, a.County)
		}
	default:
		return
	}
	scope := map[access.Role]string{access.RoleAgent: "140423100", access.RoleVillageSecretary: strings.TrimPrefix(w.village[own], "regions/"),
		access.RoleTownshipSecretary: "140423100", access.RoleCountyAdmin: "140423", access.RoleCityAdmin: "1404"}[c.role]
	for _, r := range regions {
		if !strings.HasPrefix(strings.TrimPrefix(r, "regions/"), scope) {
			t.Errorf("%s: listed something in %s, outside %s's scope", name, r, c.name)
			return
		}
	}
}
